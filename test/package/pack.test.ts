/**
 * The package as a user gets it: `npm pack` from a fresh copy of the sources (no dist/, so `prepare`
 * must build it), the tarball installed into an empty project, the README's example run from there,
 * the `scuttlebutt` command run through npx, and the README's example type-checked as strict
 * TypeScript against the installed declarations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts } from '../runtime/procs.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** What a source checkout needs to build and pack; everything else in the repository stays out of the copy. */
const SOURCES = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'src'];

/** The environment without the npm_* variables of the `npm test` running us, which would steer the nested npm. */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())));
}

async function sh(cmd: string, args: string[], cwd: string, timeout = 60_000): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { cwd, env: cleanEnv(), timeout, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** The first ```js block of the README's "Use it" section. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'README.md has a ```js example under "## Use it"');
  return m[1] as string;
}

test('npm pack holds only the library; the installed tarball runs the README example and the scuttlebutt command', { timeout: 120_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'scuttlebutt-pack-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));

  // A fresh copy of the sources, as a clone or a git install has them: no dist/.
  const pkg = join(work, 'pkg');
  mkdirSync(pkg);
  for (const entry of SOURCES) cpSync(join(ROOT, entry), join(pkg, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  const [packed] = JSON.parse(await sh('npm', ['pack', '--json', '--pack-destination', work], pkg)) as [
    { filename: string; files: { path: string }[]; size: number },
  ];
  const files = packed.files.map((f) => f.path).sort();
  const stray = files.filter((f) => !f.startsWith('dist/src/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f));
  assert.deepEqual(stray, [], 'only dist/src, package.json, README, LICENSE and CHANGELOG are packed');
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/index.js.map', 'dist/src/cli/main.js', 'LICENSE', 'CHANGELOG.md', 'README.md']) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  assert.deepEqual(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'no TypeScript sources are packed');
  const map = JSON.parse(readFileSync(join(pkg, 'dist/src/index.js.map'), 'utf8')) as { sourcesContent?: string[] };
  assert.ok(map.sourcesContent?.[0]?.includes('createScuttlebutt'), 'source maps carry their sources');

  // An empty project installs the tarball (the registry or the cache for any dependencies it has).
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed.filename)], app, 90_000);
  assert.ok(existsSync(join(app, 'node_modules/scuttlebutt-ts/dist/src/index.js')));

  // The README's example, its two ports swapped for free ones; it can only find the package in app/node_modules.
  const [p1, p2] = freePorts(2) as [number, number];
  const example = readmeExample().replaceAll('9111', String(p1)).replaceAll('9112', String(p2));
  assert.notEqual(example, readmeExample(), 'the example uses ports 9111 and 9112');
  writeFileSync(join(app, 'readme.js'), example);
  const out = await sh(process.execPath, ['readme.js'], app, 20_000);
  assert.match(out, /^api-1 sees db-1, role db$/m);
  assert.match(out, /^db-1 changed role,load: \{ role: 'db', load: '0\.3' \}$/m);

  // The bin, linked by npm and run as a user would.
  const help = await sh('npx', ['--no-install', 'scuttlebutt', '--help'], app, 30_000);
  assert.match(help, /^usage:\n {2}scuttlebutt agent /);

  // The same example is strict TypeScript against the installed declarations (README: "listeners are typed").
  writeFileSync(join(app, 'readme.ts'), example);
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  await sh(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types'), 'readme.ts'],
    app,
  );
});

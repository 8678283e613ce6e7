/**
 * The package as a user gets it: `npm pack` from a fresh copy of the sources (no dist/, so `prepare`
 * must build it), the tarball installed into an empty project, the README's example run from there,
 * the lower layers used through their subpath entries (and absent from the root, and unreachable by
 * file path), the `scuttlebutt` command run through npx, and the README's example and a subpath
 * program type-checked as strict TypeScript against the installed declarations.
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
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())),
  );
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

/** The subpath entries package.json exports besides the root, each a facade dist/src/NAME/index.js. */
const SUBPATHS = ['core', 'wire', 'transport', 'discovery', 'sim'];

/**
 * A custom harness as a user of the subpaths writes one: a core (scuttlebutt-ts/core) opens an exchange,
 * its SYN is encoded (wire) and sealed with a key (transport), then opened and decoded again.
 * Plain JavaScript that is also strict TypeScript: every type is inferred from the subpaths' declarations.
 */
const SUBPATH_PROGRAM = `import { defaultFailureDetectorConfig } from 'scuttlebutt-ts';
import { ScuttlebuttCore, seededRandom } from 'scuttlebutt-ts/core';
import { decodeAny, encodeAny, PROTOCOL_VERSION } from 'scuttlebutt-ts/wire';
import { openPacket, sealEnvelope } from 'scuttlebutt-ts/transport';
import { parseSeed } from 'scuttlebutt-ts/discovery';
import { simAddress } from 'scuttlebutt-ts/sim';

const core = new ScuttlebuttCore(
  {
    clusterId: 'pack',
    self: { id: 'n1', generation: 1, address: simAddress(1) },
    fanout: 3,
    gossipIntervalMs: 1000,
    failureDetector: defaultFailureDetectorConfig(),
    payloadBudget: 1400,
    tombstoneGracePeriodMs: 60_000,
  },
  seededRandom(7),
  0,
  { role: 'probe' },
);
const [out] = core.contact([simAddress(2)], 0);
if (!out) throw new Error('contact() sent nothing');
const opts = { keys: [new Uint8Array(16).fill(9)], compress: true, maxPacketBytes: 1400 };
const opened = openPacket(sealEnvelope(encodeAny(out.message), opts), opts);
const back = decodeAny(opened.body, opened.version);
const seed = parseSeed('srv+_gossip._udp.example');
const cluster = back.type === 'syn' ? back.clusterId : null;
const latestVersion = opened.version === PROTOCOL_VERSION;
console.log(JSON.stringify({ to: out.to, type: back.type, cluster, latestVersion, seed }));
`;

test(
  'npm pack holds only the library; installed, its README example, subpath entries and command work',
  { timeout: 120_000 },
  async (t) => {
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
    const stray = files.filter(
      (f) => !f.startsWith('dist/src/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f),
    );
    assert.deepEqual(stray, [], 'only dist/src, package.json, README, LICENSE and CHANGELOG are packed');
    const entries = ['index', ...SUBPATHS.map((s) => `${s}/index`)].flatMap((e) => [
      `dist/src/${e}.js`,
      `dist/src/${e}.d.ts`,
    ]);
    for (const f of [
      ...entries,
      'dist/src/index.js.map',
      'dist/src/cli/main.js',
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
    ]) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    const expected = ['.', './package.json', ...SUBPATHS.map((s) => `./${s}`)].sort();
    assert.deepEqual(Object.keys(manifest.exports).sort(), expected, 'package.json exports the root and each subpath');
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      'no TypeScript sources are packed',
    );
    const map = JSON.parse(readFileSync(join(pkg, 'dist/src/index.js.map'), 'utf8')) as { sourcesContent?: string[] };
    assert.ok(map.sourcesContent?.[0]?.includes('createScuttlebutt'), 'source maps carry their sources');

    // An empty project installs the tarball (the registry or the cache for any dependencies it has).
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await sh(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed.filename)],
      app,
      90_000,
    );
    assert.ok(existsSync(join(app, 'node_modules/scuttlebutt-ts/dist/src/index.js')));

    // The README's example, its two ports swapped for free ones; it can only find the package in app/node_modules.
    const [p1, p2] = freePorts(2) as [number, number];
    const example = readmeExample().replaceAll('9111', String(p1)).replaceAll('9112', String(p2));
    assert.notEqual(example, readmeExample(), 'the example uses ports 9111 and 9112');
    writeFileSync(join(app, 'readme.js'), example);
    const out = await sh(process.execPath, ['readme.js'], app, 20_000);
    assert.match(out, /^api-1 sees db-1, role db$/m);
    assert.match(out, /^db-1 changed role,load: \{ role: 'db', load: '0\.3' \}$/m);

    // The lower layers through their subpaths: a SYN from a core, through the codec and a sealed envelope, and back.
    writeFileSync(join(app, 'subpaths.mjs'), SUBPATH_PROGRAM);
    const used = JSON.parse(await sh(process.execPath, ['subpaths.mjs'], app, 20_000)) as Record<string, unknown>;
    assert.deepEqual(used, {
      to: '10.0.0.2:9111',
      type: 'syn',
      cluster: 'pack',
      latestVersion: true,
      seed: { kind: 'srv', text: 'srv+_gossip._udp.example', name: '_gossip._udp.example' },
    });

    // The root is the runtime API only: the layers below are not there, nor reachable by file path.
    const internals = [
      'ScuttlebuttCore',
      'seededRandom',
      'encodeMessage',
      'decodeMessage',
      'PROTOCOL_VERSION',
      'openEnvelope',
      'sealEnvelope',
      'ReplayWindows',
      'NonceSequence',
      'SeedDiscovery',
      'SimCluster',
    ];
    const api = ['createScuttlebutt', 'defaultLanConfig', 'ConfigError', 'diagnosticsChannels'];
    const probe = `import * as root from 'scuttlebutt-ts';
let deep;
try { await import('scuttlebutt-ts/dist/src/core/core.js'); deep = 'imported'; } catch (e) { deep = e.code; }
const at = (names) => names.filter((n) => n in root);
console.log(JSON.stringify({ leaked: at(${JSON.stringify(internals)}), api: at(${JSON.stringify(api)}), deep }));
`;
    writeFileSync(join(app, 'root.mjs'), probe);
    const root = JSON.parse(await sh(process.execPath, ['root.mjs'], app, 20_000)) as Record<string, unknown>;
    assert.deepEqual(root, { leaked: [], api, deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });

    // The bin, linked by npm and run as a user would.
    const help = await sh('npx', ['--no-install', 'scuttlebutt', '--help'], app, 30_000);
    assert.match(help, /^usage:\n {2}scuttlebutt agent /);

    // The same example is strict TypeScript against the installed declarations (README: "listeners are typed").
    // So is the subpath program, its types read through each subpath's `types` condition.
    writeFileSync(join(app, 'readme.ts'), example);
    writeFileSync(join(app, 'subpaths.mts'), SUBPATH_PROGRAM);
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await sh(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        '--typeRoots',
        join(ROOT, 'node_modules/@types'),
        'readme.ts',
        'subpaths.mts',
      ],
      app,
    );
  },
);

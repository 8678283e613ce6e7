/**
 * Regenerates the release tarballs of the upgrade tests (test/upgrade/fixtures/release-<commit>.tgz,
 * one per entry of RELEASES in releases.ts) from this repository's history. Run from a full clone
 * (not shallow), after adding a release to RELEASES:
 *
 *   npm run build && node dist/test/upgrade/make-fixtures.js
 *
 * For each release: `git archive` of its src/, tsconfig.json and package.json into a temporary
 * directory (no worktree registered in the repository), this tree's node_modules linked in (the
 * compiler is all the old build needs), tsc over src/ only, without declarations or source maps
 * (the tests only run it), then `npm pack` of a package holding just dist/src and a package.json
 * cut to what running it needs, with the commit as gitHead. The tarball is npm's, so
 * `npm install ./release-<commit>.tgz` also works; the tests unpack it with tar.
 * An existing tarball is rewritten only with --force: its bytes depend on the compiler version.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, fixtureOf, RELEASES, REPO } from './releases.js';

const git = (...args: string[]): string =>
  execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Why the release cannot be built from history here, or null when it can. */
function historyUnavailable(commit: string): string | null {
  try {
    if (git('rev-parse', '--is-shallow-repository') === 'true')
      return 'a shallow clone (git fetch --unshallow, or clone in full)';
    git('cat-file', '-e', `${commit}^{commit}`);
    return null;
  } catch (err) {
    return `no git history with commit ${commit.slice(0, 7)} (${(err as Error).message.split('\n')[0]})`;
  }
}

/** The fields of the release's package.json that running it (or installing the tarball) needs. */
const KEPT = [
  'name',
  'version',
  'description',
  'type',
  'license',
  'engines',
  'main',
  'exports',
  'bin',
  'dependencies',
] as const;

function pack(commit: string, work: string): string {
  const build = join(work, 'build');
  mkdirSync(build);
  const tar = join(work, 'src.tar');
  git('archive', '--format=tar', '-o', tar, commit, 'src', 'tsconfig.json', 'package.json');
  execFileSync('tar', ['-xf', tar, '-C', build]);
  symlinkSync(join(REPO, 'node_modules'), join(build, 'node_modules'), 'dir');
  writeFileSync(
    join(build, 'tsconfig.fixture.json'),
    JSON.stringify({
      extends: './tsconfig.json',
      compilerOptions: { declaration: false, sourceMap: false, inlineSources: false },
      include: ['src/**/*.ts'],
    }),
  );
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.fixture.json'], { cwd: build, stdio: 'pipe' });
  } catch (err) {
    throw new Error(`building ${commit.slice(0, 7)} failed: ${String((err as { stdout?: Buffer }).stdout ?? err)}`);
  }
  const staged = join(work, 'package');
  mkdirSync(join(staged, 'dist'), { recursive: true });
  cpSync(join(build, 'dist', 'src'), join(staged, 'dist', 'src'), { recursive: true });
  const original = JSON.parse(readFileSync(join(build, 'package.json'), 'utf8')) as Record<string, unknown>;
  const manifest: Record<string, unknown> = {};
  for (const k of KEPT) if (original[k] !== undefined) manifest[k] = original[k];
  manifest['files'] = ['dist/src'];
  manifest['gitHead'] = commit;
  writeFileSync(join(staged, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: staged, encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop() as string;
  return join(work, name);
}

const force = process.argv.includes('--force');
mkdirSync(FIXTURES, { recursive: true });
for (const { commit } of RELEASES) {
  const out = fixtureOf(commit);
  if (existsSync(out) && !force) {
    console.log(`${out}: exists (--force rewrites it)`);
    continue;
  }
  const why = historyUnavailable(commit);
  if (why !== null) throw new Error(`cannot build ${commit.slice(0, 7)}: ${why}`);
  const work = mkdtempSync(join(tmpdir(), 'sb-release-'));
  try {
    copyFileSync(pack(commit, work), out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`${out}: ${statSync(out).size} bytes`);
}

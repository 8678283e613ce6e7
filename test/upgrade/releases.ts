/**
 * The earlier releases the upgrade tests run against, and where they come from: each is a packed
 * tarball in test/upgrade/fixtures/ (npm's layout: package/package.json and package/dist/src/**.js,
 * nothing else), built from this repository's history by make-fixtures.ts. The tests need no git
 * history (a shallow clone runs them) and no network: the release's runtime dependencies
 * (pino, prom-client) resolve from this repository's node_modules, linked into the unpacked copy.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtocolVersion } from '../../src/wire/codec.js';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const FIXTURES = join(REPO, 'test', 'upgrade', 'fixtures');

export interface Release {
  readonly commit: string;
  /** The protocol versions it reads and writes. */
  readonly speaks: readonly ProtocolVersion[];
}

export const RELEASES: readonly Release[] = [
  // The last commit whose wire format is protocol 3 (the next, ee4ec5f, introduced protocol 4).
  { commit: 'bbfe99625c0fe117106bae640d144c1da9b28d3d', speaks: [3] },
  // The last commit whose newest protocol is 4 (the next, 5c5f57d, introduced protocol 5).
  { commit: '456853982c87b03be7a5e9b5ab97cb99b27098ce', speaks: [3, 4] },
  // The last commit whose newest protocol is 5 (the next, the merge of user events, introduced protocol 6).
  { commit: 'ade08a462a628af8a37b2ee1ff03906383e2f2b2', speaks: [3, 4, 5] },
  // The last commit whose newest protocol is 6 (user events and queries; never packaged): protocol 7 came next.
  { commit: '3d00a1aa802a8893a149e761a05ed61fd29f0f08', speaks: [3, 4, 5, 6] },
];

export const fixtureOf = (commit: string): string => join(FIXTURES, `release-${commit.slice(0, 7)}.tgz`);

/**
 * Why the release cannot be unpacked here, or null when it can. Under CI=true the tests do not
 * skip on this: they run and fail with the reason, so a CI run is never green without them.
 */
export function releaseUnavailable(commit: string): string | null {
  if (!existsSync(fixtureOf(commit)))
    return `no fixture ${fixtureOf(commit)} (node dist/test/upgrade/make-fixtures.js, from a full clone)`;
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'no tar on PATH to unpack the fixture';
  }
  return null;
}

/** Skip option of an upgrade test: skipped with the reason, except under CI=true (see releaseUnavailable). */
export function skipUnless(commit: string, what: string): string | false {
  const why = releaseUnavailable(commit);
  return why !== null && process.env['CI'] !== 'true' ? `cannot run ${what}: ${why}` : false;
}

/**
 * Unpacks the release into `dir` (dir/package) and links this tree's node_modules in for its runtime
 * dependencies. Returns the package root; its agent is dist/src/cli/main.js under it. Checks the
 * tarball was built from `commit` (make-fixtures.ts records it as gitHead, as npm publish does).
 */
export function unpackRelease(dir: string, commit: string): string {
  const why = releaseUnavailable(commit);
  if (why !== null) throw new Error(`release ${commit.slice(0, 7)} unavailable: ${why}`);
  execFileSync('tar', ['-xzf', fixtureOf(commit), '-C', dir]);
  const root = join(dir, 'package');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { gitHead?: string };
  if (manifest.gitHead !== commit)
    throw new Error(`${fixtureOf(commit)} was built from ${String(manifest.gitHead)}, not ${commit}`);
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  const agent = join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(agent)) throw new Error(`${fixtureOf(commit)} holds no dist/src/cli/main.js`);
  return root;
}

/**
 * A real rolling upgrade, from each earlier release still spoken: the last commit that spoke only
 * protocol 3, and the previous release (protocols 3 and 4, with negotiation). Each is unpacked from
 * its tarball in test/upgrade/fixtures (releases.ts) into a temporary directory; five agents run it on
 * loopback. A sixth joins on this tree's build (a scale-out in mid-upgrade: with no dead member
 * around, its membership is the old agents', so it sends them compact digests, whose heartbeats
 * must then be exact). Then each old agent is stopped (SIGTERM) and restarted on this tree's build
 * with the same id and ports, one at a time, while metadata is written. Every agent's view is
 * watched throughout.
 * Asserted: no member that was up is ever convicted by anyone, every live member's metadata is the
 * same everywhere at every step, nothing failed to encode for an old peer, and once all run the
 * new build, every packet is in the newest protocol.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePorts, waitFor } from '../runtime/procs.js';
import { packetCases, readFixture } from '../wire/golden.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from '../../src/wire/codec.js';
import { Agent, consistent, NEW_AGENT, Watcher } from './agents.js';
import { RELEASES, skipUnless, unpackRelease, type Release } from './releases.js';

/** Agents on the old build at first; one more joins on the new build. */
const N = 5;
const INTERVAL_MS = 200;

/** Packets in and out over all agents: `older` in any version below the newest, `newest` in it. */
async function totals(agents: Agent[]): Promise<{ older: number; newest: number; encodeFailed: number }> {
  let older = 0;
  let newest = 0;
  let encodeFailed = 0;
  for (const a of agents) {
    const s = await a.stats();
    for (const [v, k] of [
      ...Object.entries(s.packetsOutByVersion ?? {}),
      ...Object.entries(s.packetsInByVersion ?? {}),
    ]) {
      if (Number(v) === PROTOCOL_VERSION) newest += k;
      else older += k;
    }
    encodeFailed += s.dropped['encode-failed'] ?? 0;
  }
  return { older, newest, encodeFailed };
}

/** What the release's codec exports (the protocol 3 release takes no version argument: it speaks only 3). */
interface OldCodec {
  decodeMessage(body: Uint8Array, version: ProtocolVersion): unknown;
  encodeMessage(m: unknown, version: ProtocolVersion): Uint8Array;
}
interface OldEnvelope {
  open(packet: Uint8Array, opts: unknown): Uint8Array;
}

/**
 * The golden fixtures of every version a release speaks are what that release itself reads and writes, byte for byte.
 */
async function releaseReadsFixtures(release: Release, root: string): Promise<void> {
  const codec = (await import(pathToFileURL(join(root, 'dist', 'src', 'wire', 'codec.js')).href)) as OldCodec;
  const envelope = (await import(
    pathToFileURL(join(root, 'dist', 'src', 'transport', 'envelope.js')).href
  )) as OldEnvelope;
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const name7 = release.commit.slice(0, 7);
  for (const version of release.speaks) {
    const fixtures = readFixture(version);
    for (const [name, bytes] of fixtures) {
      if (name.startsWith('packet-')) continue;
      assert.equal(
        hex(codec.encodeMessage(codec.decodeMessage(bytes, version), version)),
        hex(bytes),
        `${name7} re-encodes protocol ${version} fixture ${name} to its bytes`,
      );
    }
    for (const c of packetCases(version))
      assert.equal(
        hex(envelope.open(fixtures.get(c.name) as Uint8Array, c.options)),
        hex(c.body),
        `${name7} opens protocol ${version}'s ${c.name}`,
      );
  }
}

for (const release of RELEASES) {
  const from = `${release.commit.slice(0, 7)} (protocol ${release.speaks.join(' and ')})`;
  test(
    `rolling upgrade from ${from} to protocol ${PROTOCOL_VERSION}, one agent at a time: nobody convicted, metadata intact, all in ${PROTOCOL_VERSION} at the end`,
    { skip: skipUnless(release.commit, `the upgrade from ${from}`), timeout: 180_000 },
    (t) => upgrade(t, release),
  );
}

async function upgrade(t: TestContext, release: Release): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'sb-previous-'));
  const ports = freePorts(2 * (N + 1));
  const agents = Array.from(
    { length: N + 1 },
    (_, i) => new Agent(i, ports[2 * i] as number, ports[2 * i + 1] as number),
  );
  const [olds, joiner] = [agents.slice(0, N), agents[N] as Agent];
  const watcher = new Watcher(agents);
  // Also on a timeout, when the body below is abandoned mid-await: no agent outlives the test.
  t.after(() => {
    watcher.stop();
    for (const a of agents) a.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const root = unpackRelease(dir, release.commit);
    const oldAgent = join(root, 'dist', 'src', 'cli', 'main.js');
    await releaseReadsFixtures(release, root);
    /**
     * Packets of newer protocols the old agents dropped (negotiation's probes and first tries), read before each stops.
     */
    let oldDropped = 0;
    // Members up for different times, as in production: heartbeats far enough apart that low bits
    // pay (a cluster started all at once keeps exact heartbeats anyway).
    for (const a of olds) {
      await a.start(oldAgent, 'old', a.i === 0 ? [] : [agents[0]!.port]);
      await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
    }
    await waitFor(() => consistent(agents), 15_000, 'the old cluster converged');
    watcher.start();
    // Metadata before the upgrade: tags on every command line (kept across restarts, like any
    // deployment's configuration) and a key set at runtime on every agent.
    for (const a of olds) await a.set('before', `written-by-${a.id}-old`);
    await waitFor(() => consistent(agents), 10_000, 'metadata written before the upgrade everywhere');

    await joiner.start(NEW_AGENT, 'new', [agents[0]!.port]);
    await joiner.set('before', `written-by-${joiner.id}`);
    await waitFor(() => consistent(agents), 15_000, `${joiner.id} (new) joined the old cluster`);
    await new Promise((r) => setTimeout(r, 15 * INTERVAL_MS)); // gossip in the mixed cluster
    assert.equal(
      (await joiner.stats()).dropped['encode-failed'] ?? 0,
      0,
      'the joiner wrote nothing the old agents cannot read',
    );

    for (const a of olds) {
      const stepAt = Date.now();
      const dropped = (await a.stats()).dropped;
      // The protocol 3 release counts every version it does not speak as bad-version.
      oldDropped += (dropped['envelope:bad-version'] ?? 0) + (dropped['envelope:version-too-new'] ?? 0);
      watcher.releasing(a);
      const note = await a.stop();
      if (note) t.diagnostic(note);
      const seeds = agents.filter((o) => o !== a).map((o) => o.port);
      await a.start(NEW_AGENT, 'new', seeds);
      // Writes during the upgrade, on the new agent and on one still old (when any is left).
      await a.set('before', `written-by-${a.id}-again`);
      await a.set(`during-${a.i}`, 'new');
      const stillOld = agents.find((o) => o.build === 'old');
      if (stillOld) await stillOld.set(`during-${a.i}`, 'old');
      await waitFor(
        () => consistent(agents),
        15_000,
        `${a.id} upgraded: every agent sees every member live with its metadata`,
      );
      assert.deepEqual(watcher.convictions, [], `convictions after upgrading ${a.id}`);
      t.diagnostic(`${a.id} upgraded and seen everywhere in ${((Date.now() - stepAt) / 1000).toFixed(1)} s`);
    }

    // Every agent runs the new build: after two probe intervals (negotiation.ts), nothing more in an older protocol.
    await new Promise((r) => setTimeout(r, 20 * INTERVAL_MS));
    const before = await totals(agents);
    await new Promise((r) => setTimeout(r, 15 * INTERVAL_MS));
    const after = await totals(agents);
    assert.equal(after.older - before.older, 0, 'no packet in an older protocol once every agent is upgraded');
    assert.ok(
      after.newest - before.newest > 100,
      `gossip goes on in protocol ${PROTOCOL_VERSION} (${after.newest - before.newest} packets)`,
    );
    assert.equal(after.encodeFailed, 0, 'no message refused for an old peer');
    assert.ok(await consistent(agents), 'still consistent at the end');
    assert.deepEqual(watcher.convictions, [], 'no member that was up was ever convicted');
    const warnings = agents.map((a) => a.stderr).join('');
    assert.doesNotMatch(warnings, /speaks protocol/, 'no version was refused');
    t.diagnostic(
      `newer-protocol packets dropped by old agents over the upgrade: ${oldDropped}; last window: ${after.newest - before.newest} packets in ${PROTOCOL_VERSION}, ${after.older - before.older} in older ones; total ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    watcher.stop();
    for (const a of agents) a.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

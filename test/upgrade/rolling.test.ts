/**
 * A real rolling upgrade, from each earlier release still spoken: the last commit that spoke only
 * protocol 3, and the previous release (protocols 3 and 4, with negotiation). Each is unpacked from
 * its tarball in test/upgrade/fixtures (releases.ts) into a temporary directory; five agents run it on
 * loopback. A sixth joins on this tree's build (a scale-out in mid-upgrade: with no dead member
 * around, its membership is the old agents', so it sends them compact digests, whose heartbeats
 * must then be exact). Then each old agent is stopped (SIGTERM) and restarted on this tree's build
 * with the same id and ports, one at a time, while metadata is written. Every agent's view is
 * watched throughout.
 * The new build runs with `--protocol 7`: it speaks 7 and advertises so, but runs protocol 6's liveness
 * (mode 6) for as long as any live member might be an old node (the gate, docs/design/liveness-7.md).
 * Asserted: no member that was up is ever convicted by anyone, every live member's metadata is the
 * same everywhere at every step, nothing failed to encode for an old peer, no new agent ever switches
 * to mode 7 (nor falls back) while an old agent is live, every agent switches to mode 7 once the last
 * old agent is upgraded, the bytes sent per agent drop once it has, a restart in mode 7 makes nobody
 * fall back, mode 7 refuses nothing, a rollback of one agent to the old build makes every new agent fall
 * back once (the only legitimate fallback) and the re-upgrade switches them back, and once all run the new
 * build, every packet is in the newest protocol.
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
import { Agent, consistent, NEW_AGENT, Watcher, type AgentLiveness } from './agents.js';
import { RELEASES, skipUnless, unpackRelease, type Release } from './releases.js';

/** Agents on the old build at first; one more joins on the new build. */
const N = 5;
const INTERVAL_MS = 200;
/**
 * The gate's hold: how long every live member must have spoken 7 before a node says it is ready. The
 * default (30 s) guards a production cluster against an old node's state still on its way through old
 * relays; here every agent is on loopback and the test itself knows when the last old agent is gone, so
 * a hold of ten gossip intervals keeps each release's run short and still leaves the hold in the path.
 */
const GATE_HOLD_MS = 2000;
/** This tree's agent: protocol 7, gated (the old agents' CLI would refuse these flags). */
const NEW_ARGS = ['--protocol', '7', '--gate-hold-ms', String(GATE_HOLD_MS)] as const;
/**
 * From the start of the last upgraded agent to every agent in mode 7. That agent holds its gate for
 * GATE_HOLD_MS from its own start (the others are not ready yet, so it has nothing to adopt), the others
 * from the old agent's leave, which came earlier; then each ready value reaches every node by gossip in a
 * few 200 ms rounds, and a node switches on the next call once all are ready. The rest is slack for a
 * loaded two-core machine (the agents' timers run late there, not the protocol).
 */
const MODE7_BOUND_MS = GATE_HOLD_MS + 8000;
/**
 * Mode 7 keeps sending heartbeat digests for one switch period (gate.ts SWITCH_PERIOD_MS, 5 s) to members
 * whose beats do not say mode 7 yet; the quiet window is measured after it.
 */
const SWITCH_PERIOD_MS = 5000;
/**
 * From an old agent's restart to every new agent back in mode 6. The old agent's state reaches the new agents
 * by gossip in a few rounds, and a node that falls back writes READY "0", news that the others follow within
 * about a round; the rest is slack for a loaded machine.
 */
const FALLBACK_BOUND_MS = 5000;
/**
 * Long enough for the old agent's detector to convict a member it gets no heartbeats from (phi 8 at 200 ms
 * rounds: about 3.9 s after the last, as its views show), were the new agents to starve it.
 */
const OLD_DETECTION_MS = 5000;
/** The windows over which bytes sent are counted: long enough for 20 gossip rounds. */
const WINDOW_MS = 4000;
/** Mode 7's bytes per agent must be below this share of mode 6's (N + 1 = 6 agents, 200 ms rounds). */
const MAX_BYTES_RATIO = 0.8;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bytes sent per running agent per second over `ms`, read from every running agent's stats. */
async function bytesPerAgentSecond(agents: Agent[], ms: number): Promise<number> {
  const running = agents.filter((a) => a.running);
  const sent = async (): Promise<number[]> => Promise.all(running.map(async (a) => (await a.stats()).bytesOut));
  const before = await sent();
  const t0 = Date.now();
  await sleep(ms);
  const after = await sent();
  const seconds = (Date.now() - t0) / 1000;
  const total = after.reduce((sum, b, i) => sum + b - (before[i] as number), 0);
  return total / running.length / seconds;
}

/** stats().liveness of every running new agent. */
async function livenessOf(agents: Agent[]): Promise<{ agent: Agent; liveness: AgentLiveness }[]> {
  const news = agents.filter((a) => a.running && a.build === 'new');
  return Promise.all(
    news.map(async (agent) => {
      const liveness = (await agent.stats()).liveness;
      assert.ok(liveness, `${agent.id} (new) reports stats().liveness`);
      return { agent, liveness };
    }),
  );
}

/** Every running agent is new and runs mode 7. */
async function allInMode7(agents: Agent[]): Promise<boolean> {
  if (agents.some((a) => a.running && a.build !== 'new')) return false;
  return (await livenessOf(agents).catch(() => [])).every(({ liveness }) => liveness.mode === 7);
}

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
    `rolling upgrade from ${from} to protocol ${PROTOCOL_VERSION}, one agent at a time: nobody convicted, metadata intact, mode 7 only once all are new, fewer bytes in it`,
    { skip: skipUnless(release.commit, `the upgrade from ${from}`), timeout: 240_000 },
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
    /** Bytes sent per agent per second in the last mixed cluster (mode 6), and when the last upgraded agent started. */
    let mode6Bytes = NaN;
    let lastStartAt = 0;
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

    await joiner.start(NEW_AGENT, 'new', [agents[0]!.port], NEW_ARGS);
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
      await a.start(NEW_AGENT, 'new', seeds, NEW_ARGS);
      lastStartAt = Date.now();
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
      const oldLive = agents.filter((o) => o.running && o.build === 'old').length;
      if (oldLive > 0) {
        // The switch and fallback counts cover every instant since each agent started, not only this read:
        // with an old agent live, no new agent may ever have left mode 6 (an old agent convicts whoever
        // stops sending it heartbeats), and so none has anything to fall back from either.
        for (const { agent, liveness } of await livenessOf(agents))
          assert.deepEqual(
            {
              protocol: liveness.protocol,
              mode: liveness.mode,
              notSpeaking: liveness.notSpeaking,
              switches: liveness.switches,
              fallbacks: liveness.fallbacks,
            },
            { protocol: 7, mode: 6, notSpeaking: oldLive, switches: 0, fallbacks: 0 },
            `${agent.id} (new) with ${oldLive} old agent(s) live`,
          );
      }
      if (oldLive === 1) {
        // The last mixed cluster: five new agents in mode 6 and one old. Its quiet rate is mode 6's.
        await sleep(2000); // the writes above have spread
        mode6Bytes = await bytesPerAgentSecond(agents, WINDOW_MS);
      }
    }

    // Every agent runs the new build: the gate opens after its hold and every agent switches.
    await waitFor(() => allInMode7(agents), MODE7_BOUND_MS, `every agent in mode 7 within ${MODE7_BOUND_MS} ms`);
    const switchMs = Date.now() - lastStartAt;
    assert.ok(await consistent(agents), 'consistent right after the switch');
    await sleep(SWITCH_PERIOD_MS);
    const mode7Bytes = await bytesPerAgentSecond(agents, WINDOW_MS);
    for (const { agent, liveness } of await livenessOf(agents))
      assert.deepEqual(
        { mode: liveness.mode, notSpeaking: liveness.notSpeaking, switches: liveness.switches },
        { mode: 7, notSpeaking: 0, switches: 1 },
        `${agent.id} switched once and stayed in mode 7 through the window`,
      );
    t.diagnostic(
      `every agent in mode 7 ${(switchMs / 1000).toFixed(1)} s after the last upgraded agent started (hold ${GATE_HOLD_MS} ms); ` +
        `bytes sent per agent per second: mode 6 (mixed, last old agent live) ${mode6Bytes.toFixed(0)}, mode 7 ${mode7Bytes.toFixed(0)} (${(mode7Bytes / mode6Bytes).toFixed(2)}x)`,
    );
    assert.ok(
      mode7Bytes < MAX_BYTES_RATIO * mode6Bytes,
      `mode 7 sends ${mode7Bytes.toFixed(0)} B/agent/s, not below ${MAX_BYTES_RATIO} x mode 6's ${mode6Bytes.toFixed(0)}`,
    );

    // A restart in mode 7 (a new agent, same id and ports): the others keep mode 7, since a member never seen
    // ready in its new incarnation forces no fallback, and it adopts their open gate without the hold.
    const restarted = agents[0] as Agent;
    watcher.releasing(restarted);
    const note = await restarted.stop();
    if (note) t.diagnostic(note);
    const restartAt = Date.now();
    await restarted.start(
      NEW_AGENT,
      'new',
      agents.filter((o) => o !== restarted).map((o) => o.port),
      NEW_ARGS,
    );
    await restarted.set('after', 'mode-7');
    await waitFor(() => consistent(agents), 15_000, `${restarted.id} restarted in mode 7: seen everywhere`);
    await waitFor(() => allInMode7(agents), MODE7_BOUND_MS, `${restarted.id} back in mode 7`);
    t.diagnostic(
      `${restarted.id} restarted and in mode 7 with all others ${((Date.now() - restartAt) / 1000).toFixed(1)} s after its stop`,
    );
    let fallbacks = 0;
    for (const { agent, liveness } of await livenessOf(agents)) {
      fallbacks += liveness.fallbacks;
      assert.deepEqual(
        {
          mode: liveness.mode,
          switches: liveness.switches,
          fallbacks: liveness.fallbacks,
          refused: Object.fromEntries(Object.entries(liveness.refused).filter(([, n]) => n > 0)),
        },
        { mode: 7, switches: 1, fallbacks: 0, refused: {} },
        `${agent.id}: one switch, no fallback, nothing refused in mode 7`,
      );
    }
    t.diagnostic(`fallbacks before the rollback: ${fallbacks}`);

    // A rollback: one agent back on the old build. The only legitimate fallback: every new agent returns to
    // mode 6 at once (an old agent convicts whoever sends it no heartbeats), once; nobody is convicted. Then
    // it is upgraded again and the cluster switches back after the hold (hysteresis: once per hold at most).
    const rolledBack = agents[1] as Agent;
    watcher.releasing(rolledBack);
    const stopNote = await rolledBack.stop();
    if (stopNote) t.diagnostic(stopNote);
    const rollbackAt = Date.now();
    const othersOf = (a: Agent): number[] => agents.filter((o) => o !== a).map((o) => o.port);
    await rolledBack.start(oldAgent, 'old', othersOf(rolledBack));
    await waitFor(
      async () => (await livenessOf(agents)).every(({ liveness }) => liveness.mode === 6 && liveness.notSpeaking === 1),
      FALLBACK_BOUND_MS,
      `every new agent back in mode 6 within ${FALLBACK_BOUND_MS} ms of ${rolledBack.id}'s restart on the old build`,
    );
    t.diagnostic(
      `rollback: every new agent in mode 6 ${((Date.now() - rollbackAt) / 1000).toFixed(1)} s after the old agent's stop`,
    );
    await rolledBack.set('during-rollback', 'old');
    await waitFor(() => consistent(agents), 15_000, `${rolledBack.id} (old again) seen everywhere`);
    await sleep(OLD_DETECTION_MS); // the old agent's detector has had the time to convict a silent member
    assert.deepEqual(watcher.convictions, [], 'no conviction across the rollback');
    for (const { agent, liveness } of await livenessOf(agents)) {
      const restartedHere = agent === restarted; // its process started after the first switch: same counts
      assert.deepEqual(
        { mode: liveness.mode, switches: liveness.switches, fallbacks: liveness.fallbacks },
        { mode: 6, switches: 1, fallbacks: 1 },
        `${agent.id}${restartedHere ? ' (restarted in mode 7)' : ''} fell back exactly once on the rollback`,
      );
    }
    watcher.releasing(rolledBack);
    const againNote = await rolledBack.stop();
    if (againNote) t.diagnostic(againNote);
    const reupgradeAt = Date.now();
    await rolledBack.start(NEW_AGENT, 'new', othersOf(rolledBack), NEW_ARGS);
    await waitFor(
      () => allInMode7(agents),
      MODE7_BOUND_MS,
      `every agent in mode 7 again after re-upgrading ${rolledBack.id}`,
    );
    t.diagnostic(
      `re-upgrade: every agent in mode 7 ${((Date.now() - reupgradeAt) / 1000).toFixed(1)} s after the old agent's stop`,
    );
    fallbacks = 0;
    for (const { agent, liveness } of await livenessOf(agents)) {
      fallbacks += liveness.fallbacks;
      const fresh = agent === rolledBack; // a new process: never fell back
      assert.deepEqual(
        { switches: liveness.switches, fallbacks: liveness.fallbacks },
        fresh ? { switches: 1, fallbacks: 0 } : { switches: 2, fallbacks: 1 },
        `${agent.id}: switched back once after the rollback`,
      );
    }
    assert.ok(await consistent(agents), 'consistent after the re-upgrade');
    t.diagnostic(`fallbacks over the whole run (all from the rollback): ${fallbacks}`);

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

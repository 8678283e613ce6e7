/**
 * The simulator's network carries protocol 7's messages from a core to another core's receive(), as it carries
 * protocol 6's, and counts their bytes with the real codec (the sizes, and the sealed packet as the runtime sends it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster } from '../../src/sim/cluster.js';
import { simConfig, type BenchOptions } from '../../src/sim/options.js';
import { plaintextPacketBytes } from '../../src/sim/wire-bytes.js';
import type { CoreMessage, Outbound } from '../../src/core/types.js';
import { encodeAny } from '../../src/wire/any.js';
import { ENVELOPE_HEADER_BYTES } from '../../src/wire/codec.js';
import { encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import { isLivenessMessage, type LivenessMessage } from '../../src/wire/liveness-messages.js';
import { livenessCases } from '../wire/liveness-golden.js';

const OPTIONS: BenchOptions = {
  nodes: 3,
  fanout: 2,
  intervalMs: 1000,
  loss: 0,
  burst: 1,
  runs: 1,
  seed: 11,
  window: 10,
  disseminations: 1,
  durationS: 0,
  latencyMs: 5,
  jitterMs: 0,
};

test('every liveness message a core sends reaches its destination core, sized by the codec', () => {
  const sim = new SimCluster(simConfig(OPTIONS, OPTIONS.seed));
  for (let i = 0; i < OPTIONS.nodes; i++) sim.start(i);
  sim.runUntil(3000);
  // Node 0 sends one of each liveness message to node 1 on its next tick, beside its own gossip.
  const cases = livenessCases().map(([, m]) => m);
  const core0 = sim.cores[0]!;
  const core1 = sim.cores[1]!;
  const tick = core0.tick.bind(core0);
  let injected = false;
  core0.tick = (now: number): Outbound[] => {
    const out = tick(now);
    if (injected) return out;
    injected = true;
    return [...out, ...cases.map((message) => ({ to: core1.self.address, message }))];
  };
  const received: { message: LivenessMessage; at: number }[] = [];
  const receive = core1.receive.bind(core1);
  core1.receive = (from, message, now, sender) => {
    if (isLivenessMessage(message)) received.push({ message, at: now });
    return receive(from, message, now, sender);
  };
  const sent: { message: CoreMessage; at: number }[] = [];
  sim.onSend((from, _to, message, at) => {
    if (from === 0) sent.push({ message, at });
  });
  sim.resetTraffic();
  sim.runUntil(5000);

  assert.ok(injected);
  assert.deepEqual(
    received.map((r) => r.message),
    cases,
    'each liveness message delivered once, in order, unchanged',
  );
  const sentAt = sent.find((s) => isLivenessMessage(s.message))!.at;
  for (const r of received) assert.ok(r.at >= sentAt + OPTIONS.latencyMs, 'after the network latency');
  // Node 0's byte counts: every message it sent, liveness ones by the liveness codec, sealed as the runtime seals.
  const bytes = sent.reduce((n, s) => n + encodeAny(s.message).length + ENVELOPE_HEADER_BYTES, 0);
  const wire = sent.reduce((n, s) => n + plaintextPacketBytes(encodeAny(s.message)), 0);
  assert.equal(sim.bytesSent[0], bytes);
  assert.equal(sim.wireBytesSent[0], wire);
  const liveness = cases.reduce((n, m) => n + encodeLivenessMessage(m).length + ENVELOPE_HEADER_BYTES, 0);
  assert.ok(liveness > 2000 && bytes > liveness, `the liveness messages' ${liveness} bytes are counted in ${bytes}`);
  assert.ok(sim.maxPacketBytes >= Math.max(...cases.map((m) => encodeLivenessMessage(m).length)));
});

/**
 * A process sprays a running node with random bytes and mutated real packets. The node must stay
 * up, keep its state, and count every packet it dropped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { seededRandom } from '../../src/core/random.js';
import { DecodeError, decodeMessage, encodeMessage, NO_BUMPS } from '../../src/wire/codec.js';
import type { Message } from '../../src/wire/messages.js';
import { EnvelopeError, openPacket, seal } from '../../src/transport/envelope.js';
import { killAll, startCluster, waitFor } from './procs.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

const ENVELOPE = { keys: [], compress: true, maxPacketBytes: MAX_UDP_PAYLOAD };

function validPackets(): Uint8Array[] {
  const identity = { id: 'intruder', generation: 5, address: '127.0.0.1:1' };
  const msgs: Message[] = [
    {
      type: 'syn',
      clusterId: 'test',
      setHash: 12345,
      setSize: 3,
      digest: {
        mode: 'full',
        complete: true,
        offset: 0,
        count: 1,
        refs: Float64Array.of(99),
        heartbeats: Float64Array.of(7),
        checks: null,
        ages: Float64Array.of(3),
        ageLimit: 0,
        maxVersions: Float64Array.of(2),
        gcVersions: Float64Array.of(0),
      },
      pull: true,
    },
    {
      type: 'ack',
      clusterId: 'test',
      delta: {
        nodes: [
          {
            ref: 77,
            identity,
            heartbeat: 3,
            heartbeatAge: 1,
            lastGcVersion: 0,
            fromVersion: 0,
            maxVersion: 2,
            values: [{ key: 'k', value: 'v'.repeat(200), version: 2, tombstone: false }],
          },
        ],
        bumps: NO_BUMPS,
      },
    },
    { type: 'leave', clusterId: 'test', identity, heartbeat: 9 },
  ];
  return msgs.map((m) => seal(encodeMessage(m), ENVELOPE));
}

/** True when the node would drop this packet: only those are sprayed, so every one must be counted. */
function rejected(packet: Uint8Array): boolean {
  try {
    const { version, body } = openPacket(packet, ENVELOPE);
    decodeMessage(body, version);
    return false;
  } catch (err) {
    if (err instanceof DecodeError || err instanceof EnvelopeError) return true;
    throw err; // anything else escaping the decoder is itself a bug
  }
}

test('a node sprayed with garbage stays up, keeps its state and counts every packet', async () => {
  const procs = await startCluster(3);
  try {
    await waitFor(
      () => procs.every((p) => p.events.filter((e) => e.event === 'live').length >= 2),
      10_000,
      'converged',
    );
    const target = procs[1]!;
    const before = (await target.query('state')).state!;
    const statsBefore = (await target.query('stats')).stats!;
    const drops = (s: typeof statsBefore) => Object.values(s.dropped).reduce((a, b) => a + b, 0);
    const counted = async () => drops((await target.query('stats')).stats!) - drops(statsBefore);
    const rng = seededRandom(42);
    const seeds = validPackets();
    const sock = createSocket('udp4');
    let sent = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      let p: Uint8Array;
      if (rng.next() < 0.3) {
        p = new Uint8Array(Math.floor(rng.next() * 600));
        for (let i = 0; i < p.length; i++) p[i] = Math.floor(rng.next() * 256);
      } else {
        const base = seeds[Math.floor(rng.next() * seeds.length)]!;
        p = Uint8Array.from(base);
        const flips = 1 + Math.floor(rng.next() * 4);
        for (let f = 0; f < flips; f++) p[Math.floor(rng.next() * p.length)] = Math.floor(rng.next() * 256);
        if (rng.next() < 0.3) p = p.subarray(0, Math.floor(rng.next() * p.length));
      }
      if (!rejected(p)) continue;
      await new Promise<void>((r) => sock.send(p, Number(target.args.port), '127.0.0.1', () => r()));
      sent++;
      // In batches the kernel's receive buffer always holds (about 200 small datagrams): a packet the
      // kernel drops for a busy receiver never reaches the node, and the count below would miss it.
      if (sent % 100 === 0)
        await waitFor(async () => (await counted()) >= sent, 10_000, `the node counted ${sent} packets`);
    }
    sock.close();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!target.exited, 'the node is still running');
    const after = (await target.query('state')).state!;
    const strip = (s: typeof before) =>
      s.live
        .map((m) => ({ id: m.id, generation: m.generation, metadata: m.metadata }))
        .sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(strip(after), strip(before), 'membership and metadata unchanged');
    const statsAfter = (await target.query('stats')).stats!;
    assert.equal(
      drops(statsAfter) - drops(statsBefore),
      sent,
      `every one of ${sent} packets counted: ${JSON.stringify(statsAfter.dropped)}`,
    );
    assert.equal(statsAfter.errors.internal, 0, 'no garbage packet raised an unexpected exception');
    assert.ok(sent > 1000, `sprayed ${sent} packets`);
  } finally {
    killAll(procs);
  }
});

/**
 * Packets alone, over a fake socket: what it tells its sinks, a key rotation through setKeys(), and a
 * stranger's replies held to the amplification allowance even when the core's reply budget would
 * let more through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outbound } from '../../src/core/types.js';
import { envelopeOverhead } from '../../src/transport/envelope.js';
import { PeerVersions } from '../../src/transport/negotiation.js';
import type { UdpEndpoint } from '../../src/transport/udp.js';
import { PROTOCOL_VERSION } from '../../src/wire/codec.js';
import { Packets } from '../../src/runtime/packets.js';

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };
const KEY_A = new Uint8Array(16).fill(1);
const KEY_B = new Uint8Array(16).fill(2);

interface Harness {
  readonly packets: Packets;
  readonly sent: { bytes: Uint8Array; to: string }[];
  readonly heard: string[];
}

function harness(keys: readonly Uint8Array[], peers: readonly string[] = []): Harness {
  const sent: Harness['sent'] = [];
  const heard: string[] = [];
  const udp: UdpEndpoint = {
    address: '127.0.0.1:7000',
    send: (bytes, host, port) => Promise.resolve(void sent.push({ bytes, to: `${host}:${port}` })),
    onPacket() {},
    onError() {},
    close: () => Promise.resolve(),
  };
  const versions = new PeerVersions({ probeIntervalMs: 10_000 });
  // Peers heard in the newest version: every message to them is written in it, so sizes do not vary.
  for (const p of peers) versions.heard(p, PROTOCOL_VERSION);
  const packets = new Packets(
    {
      udp,
      versions,
      log: SILENT,
      onPacket: (direction, bytes, peer) => void heard.push(`${direction} ${bytes} ${peer}`),
      onDrop: (reason) => void heard.push(`drop ${reason}`),
    },
    { envelope: { keys, compress: false, maxPacketBytes: 1400 } },
  );
  return { packets, sent, heard };
}

const leave = (to: string, heartbeat: number): Outbound => ({
  to,
  message: {
    type: 'leave',
    clusterId: 'c',
    identity: { id: 'x', generation: 1, address: '127.0.0.1:7000' },
    heartbeat,
  },
});

test('packets in and out reach the sinks and the counters; after setKeys() only the new key seals', async () => {
  const a = harness([KEY_A], ['127.0.0.1:7001']);
  const b = harness([KEY_A]);
  await Promise.all(a.packets.sendAll([leave('127.0.0.1:7001', 1)]));
  const first = a.sent[0]!;
  assert.deepEqual(a.heard, [`out ${first.bytes.length} 127.0.0.1:7001`]);
  assert.deepEqual(a.packets.counters, { packetsIn: 0, packetsOut: 1, bytesIn: 0, bytesOut: first.bytes.length });
  assert.equal(b.packets.open(first.bytes, '127.0.0.1:7000')?.type, 'leave');
  assert.deepEqual(b.heard, [`in ${first.bytes.length} 127.0.0.1:7000`]);

  a.packets.setKeys([KEY_B]);
  await Promise.all(a.packets.sendAll([leave('127.0.0.1:7001', 2)]));
  assert.equal(
    b.packets.open(a.sent[1]!.bytes, '127.0.0.1:7000'),
    null,
    'sealed with the new key, which b does not hold',
  );
  assert.equal(b.heard.at(-1), 'drop envelope:decrypt-failed');
  assert.deepEqual(b.packets.dropped, { 'envelope:decrypt-failed': 1 });
  const c = harness([KEY_B]);
  assert.equal(c.packets.open(a.sent[1]!.bytes, '127.0.0.1:7000')?.type, 'leave');
});

test("a stranger's address gets at most three times what it sent; other destinations are not held back", async () => {
  const stranger = '127.0.0.1:7002';
  const member = '127.0.0.1:7003';
  const probe = harness([KEY_A], [stranger]);
  await Promise.all(probe.packets.sendAll([leave(stranger, 1)]));
  const size = probe.sent[0]!.bytes.length;

  const { packets, sent, heard } = harness([KEY_A], [stranger, member]);
  const received = Math.ceil(size / 3); // an allowance of one reply, not two
  const limit = packets.strangerAllowance(stranger, received);
  assert.deepEqual(limit, { to: stranger, bytes: 3 * received, replyBudget: 3 * received - envelopeOverhead(true) });
  await Promise.all(
    packets.sendAll([leave(stranger, 1), leave(member, 2), leave(stranger, 3), leave(stranger, 4)], limit),
  );
  assert.deepEqual(
    sent.map((s) => s.to),
    [stranger, member],
  );
  assert.deepEqual(packets.dropped, { 'amplification-limit': 2 });
  assert.equal(heard.filter((h) => h === 'drop amplification-limit').length, 2);

  sent.length = 0;
  await Promise.all(packets.sendAll([leave(stranger, 5), leave(stranger, 6)]));
  assert.equal(sent.length, 2, 'without a limit every packet goes');
});

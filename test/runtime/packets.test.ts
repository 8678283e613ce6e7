/**
 * Packets alone, over a fake socket: what it tells its sinks, a key rotation through setKeys(), a
 * stranger's replies held to the amplification allowance even when the core's reply budget would
 * let more through, and protocol 7's messages: only to peers heard in 7, and the stream's frames
 * refused over UDP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Outbound } from '../../src/core/types.js';
import { envelopeOverhead, openPacket, seal } from '../../src/transport/envelope.js';
import { PeerVersions } from '../../src/transport/negotiation.js';
import type { UdpEndpoint } from '../../src/transport/udp.js';
import { PROTOCOL_VERSION } from '../../src/wire/codec.js';
import { MESSAGE_TOO_NEW, Packets, STREAM_FRAME_OVER_UDP } from '../../src/runtime/packets.js';
import { encodeAny, type WireMessage } from '../../src/wire/any.js';
import type { BeatMessage, LivenessMessage } from '../../src/wire/liveness-messages.js';
import type { UserEventMessage } from '../../src/wire/user-events.js';

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };
const KEY_A = new Uint8Array(16).fill(1);
const KEY_B = new Uint8Array(16).fill(2);

interface Harness {
  readonly packets: Packets;
  readonly sent: { bytes: Uint8Array; to: string }[];
  readonly heard: string[];
}

function harness(keys: readonly Uint8Array[], peers: readonly string[] = [], maxPacketBytes = 1400): Harness {
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
    { envelope: { keys, compress: false, maxPacketBytes } },
  );
  return { packets, sent, heard };
}

/** A membership message that follows the version negotiation (a leave does not: see Packets.versionOf). */
const membershipMessage = (to: string, n: number): Outbound => ({
  to,
  message: { type: 'wrongCluster', clusterId: `c${n}` },
});

/** A leave: the version of its proof, never the oldest as a try to a peer never heard. */
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

const beat: BeatMessage = { type: 'beat', flags: 0, senderTag: 0x1234, sequence: 1, echo: 0, stateHash: 99 };
const versionOf = (bytes: Uint8Array): number =>
  openPacket(bytes, { keys: [KEY_A], compress: false, maxPacketBytes: 1400 }).version;

test('a STREAM-HELLO or STREAM-END over UDP is dropped and counted; a BEAT in 7 comes out for the core', () => {
  // Room for a hello's 256 sums (1.5 kB): a node configured for large packets would open it.
  const { packets, heard } = harness([KEY_A], [], 8192);
  const from = '127.0.0.1:7004';
  const sealed = (m: WireMessage): Uint8Array =>
    seal(encodeAny(m, 7), { keys: [KEY_A], compress: false, maxPacketBytes: 8192 }, { version: 7 });
  const hello: LivenessMessage = {
    type: 'streamHello',
    clusterId: 'c',
    sender: 5,
    stateHash: 6,
    sums: new Array<number>(256).fill(0),
  };
  assert.equal(packets.open(sealed(hello), from), null);
  assert.equal(packets.open(sealed({ type: 'streamEnd', frames: 3, stateHash: 6 }), from), null);
  assert.deepEqual(packets.dropped, { [STREAM_FRAME_OVER_UDP]: 2 });
  assert.equal(heard.filter((h) => h === `drop ${STREAM_FRAME_OVER_UDP}`).length, 2);
  assert.equal(packets.versions.speaks(from), undefined, 'a refused frame teaches nothing of its sender');
  assert.deepEqual(packets.open(sealed(beat), from), beat);
  assert.equal(packets.versions.speaks(from), 7);
});

test('liveness messages go in 7 to peers heard in 7 or never heard; to one heard only in 6 nothing goes, counted', async () => {
  const six = '127.0.0.1:7005';
  const seven = '127.0.0.1:7006';
  const unheard = '127.0.0.1:7007';
  const { packets, sent } = harness([KEY_A], [seven]);
  packets.versions.heard(six, 6);
  await Promise.all(
    packets.sendAll([
      { to: six, message: beat },
      { to: seven, message: beat },
      { to: unheard, message: beat },
    ]),
  );
  assert.deepEqual(
    sent.map((s) => [s.to, versionOf(s.bytes)]),
    [
      [seven, 7],
      [unheard, 7],
    ],
  );
  assert.deepEqual(packets.dropped, { [MESSAGE_TOO_NEW]: 1 });
  // The beats spent no try nor probe: the membership messages to those two still follow the negotiation, a probe in 7
  // to the one heard in 6 (its first initiation), then 6; to the one never heard, the newest twice, then the oldest.
  for (let k = 1; k <= 3; k++)
    await Promise.all(packets.sendAll([membershipMessage(six, k), membershipMessage(unheard, k)]));
  assert.deepEqual(
    sent.slice(2).map((s) => [s.to, versionOf(s.bytes)]),
    [
      [six, 7],
      [unheard, 7],
      [six, 6],
      [unheard, 7],
      [six, 6],
      [unheard, 3],
    ],
  );
});

test("a user event to a peer heard in 6 goes in 6 and leaves the peer's probe in 7 to the next membership message", async () => {
  const six = '127.0.0.1:7008';
  const { packets, sent } = harness([KEY_A]);
  packets.versions.heard(six, 6);
  const events: UserEventMessage = { type: 'userEvents', clusterId: 'c', events: [] };
  await Promise.all(packets.sendAll([{ to: six, message: events }]));
  await Promise.all(packets.sendAll([membershipMessage(six, 1)]));
  await Promise.all(packets.sendAll([membershipMessage(six, 2)]));
  assert.deepEqual(
    sent.map((s) => versionOf(s.bytes)),
    [6, 7, 6],
    'the event in 6, the probe in 7, then 6 again until the peer is heard in 7',
  );
  assert.deepEqual(packets.dropped, {});
});

test('a leave to a peer never heard goes in the newest version three times out of three, with its proof', async () => {
  const unheard = '127.0.0.1:7009';
  const { packets, sent } = harness([KEY_A]);
  for (let k = 1; k <= 3; k++) await Promise.all(packets.sendAll([leave(unheard, k)]));
  // A membership message's third try would be the oldest version, which carries no proof: a peer holding the
  // leaver's commitment would refuse it as forged (examples/basic-cluster.js saw it one run in three).
  assert.deepEqual(
    sent.map((s) => versionOf(s.bytes)),
    [7, 7, 7],
  );
});

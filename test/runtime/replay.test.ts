/**
 * Replay on real UDP: an on-path recorder (a UDP relay that one node joins through, forwarding both
 * ways and keeping a copy of every packet) replays what it recorded, keyless, to the nodes that sent
 * and received it. Every replay must be dropped before it is decoded, counted, and answered with
 * nothing; gossip between the nodes goes on untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { createScuttlebutt, type Scuttlebutt } from '../../src/index.js';
import { openPacket } from '../../src/transport/envelope.js';
import { decodeMessage } from '../../src/wire/codec.js';
import { freePorts, waitFor } from './procs.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const bind = (sock: Socket): Promise<number> =>
  new Promise((r) => sock.bind(0, '127.0.0.1', () => r(sock.address().port)));
const replays = (n: Scuttlebutt): number =>
  (n.stats().dropped['envelope:replayed'] ?? 0) + (n.stats().dropped['envelope:below-window'] ?? 0);

test('keyring: every packet an on-path recorder replays is dropped and counted, and earns no reply', async () => {
  const key = randomBytes(32);
  const [pa, pb] = freePorts(2) as [number, number];
  const start = (id: string, port: number): Promise<Scuttlebutt> =>
    createScuttlebutt({
      clusterId: 'replay',
      node: { id, gossipPublicAddress: `127.0.0.1:${port}` },
      listenAddress: `127.0.0.1:${port}`,
      gossipIntervalMs: 100,
      secretKeys: [key],
      failureDetector: { firstHeartbeatEstimateMs: 100 },
    });
  const a = await start('a', pa);
  const b = await start('b', pb);
  // The relay: a's seed address. a -> relay -> b, and b's answers to the relay go back to a.
  const relay = createSocket('udp4');
  const recorded: { packet: Buffer; from: 'a' | 'b' }[] = [];
  let forwarding = true;
  /** What reaches the relay once it stops forwarding: only a's own SYNs to its seed, never a reply. */
  const after: string[] = [];
  relay.on('message', (packet, rinfo) => {
    if (!forwarding)
      return void after.push(
        decodeMessage(openPacket(packet, { keys: [key], compress: true, maxPacketBytes: MAX_UDP_PAYLOAD }).body).type,
      );
    const fromA = rinfo.port === pa;
    recorded.push({ packet, from: fromA ? 'a' : 'b' });
    relay.send(packet, fromA ? pb : pa, '127.0.0.1');
  });
  const relayPort = await bind(relay);
  try {
    await a.join([`127.0.0.1:${relayPort}`]);
    await waitFor(() => a.state().live.length === 2 && b.state().live.length === 2, 10_000, 'a and b see each other');
    await sleep(1000);
    forwarding = false;
    assert.ok(
      recorded.some((r) => r.from === 'a') && recorded.some((r) => r.from === 'b'),
      `recorded both ways (${recorded.length} packets)`,
    );
    const before = { a: replays(a), b: replays(b), bytesA: a.stats().bytesOut, decodedA: a.stats().packetsIn };
    // Replayed to the node it was addressed to, and sent back to the node that sealed it, from the
    // relay's address (where the originals' replies went) and from a fresh socket.
    const fresh = createSocket('udp4');
    let freshGot = 0;
    fresh.on('message', () => void freshGot++);
    await bind(fresh);
    try {
      for (const sock of [relay, fresh]) {
        for (const r of recorded) {
          sock.send(r.packet, r.from === 'a' ? pb : pa, '127.0.0.1');
          sock.send(r.packet, r.from === 'a' ? pa : pb, '127.0.0.1');
        }
      }
      const expected = 4 * recorded.length;
      await waitFor(
        () => replays(a) - before.a + (replays(b) - before.b) >= expected,
        5000,
        `${expected} replays counted`,
      );
      await sleep(300);
      assert.equal(
        replays(a) - before.a + (replays(b) - before.b),
        expected,
        'every replay counted once, nothing else',
      );
      assert.equal(freshGot, 0, 'no reply to any replay from a fresh socket');
      assert.deepEqual(
        after.filter((t) => t !== 'syn'),
        [],
        'no reply to any replay from the relay (a still contacts its seed now and then)',
      );
      const dropped = { ...a.stats().dropped, ...b.stats().dropped };
      assert.equal(Object.keys(dropped).filter((k) => k.startsWith('decode:')).length, 0, 'dropped before decoding');
    } finally {
      fresh.close();
    }
    // Gossip between the two went on.
    const hb = b.state().live.find((m) => m.id === 'a')!.heartbeat;
    await waitFor(() => b.state().live.find((m) => m.id === 'a')!.heartbeat > hb + 3, 3000, 'a heartbeats on at b');
    assert.ok(a.stats().replayWindows.streams >= 1 && b.stats().replayWindows.streams >= 1);
  } finally {
    relay.close();
    await Promise.all([a.shutdown(), b.shutdown()]);
  }
});

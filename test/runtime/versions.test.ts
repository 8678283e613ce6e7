/**
 * Version negotiation on real sockets: a node answers in the version it was addressed in, drops and
 * names a version it does not speak (once in the log, every time in stats), and two current nodes
 * end up sending nothing in the old version.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { createScuttlebutt } from '../../src/runtime/scuttlebutt.js';
import type { Logger } from '../../src/runtime/api.js';
import {
  decodeMessage,
  encodeMessage,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from '../../src/wire/codec.js';
import type { SynMessage } from '../../src/wire/messages.js';
import { openPacket, seal } from '../../src/transport/envelope.js';
import { freePorts, waitFor } from './procs.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

const ENVELOPE = { keys: [], compress: false, maxPacketBytes: MAX_UDP_PAYLOAD };
/** Versions by role: the test holds whatever the codec speaks. */
const SPOKEN = Array.from(
  { length: PROTOCOL_VERSION - MIN_PROTOCOL_VERSION + 1 },
  (_, i) => (MIN_PROTOCOL_VERSION + i) as ProtocolVersion,
);
const RANGE = `${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`;
const SYN: SynMessage = {
  type: 'syn',
  clusterId: 'default',
  setHash: 1,
  setSize: 1,
  pull: true,
  digest: {
    mode: 'full',
    complete: true,
    offset: 0,
    count: 0,
    refs: new Float64Array(0),
    heartbeats: new Float64Array(0),
    checks: null,
    ages: new Float64Array(0),
    ageLimit: 0,
    maxVersions: new Float64Array(0),
    gcVersions: new Float64Array(0),
  },
};

function spyLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug() {},
    info() {},
    warn: (_o: object, msg?: string) => void warnings.push(msg ?? ''),
    error() {},
  };
}

async function exchange(sock: Socket, port: number, packet: Uint8Array): Promise<Uint8Array> {
  const reply = once(sock, 'message') as Promise<[Buffer]>;
  sock.send(packet, port, '127.0.0.1');
  const [buf] = await Promise.race([
    reply,
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no reply')), 3000)),
  ]);
  return new Uint8Array(buf);
}

test('a node answers in the version it was addressed in, and drops a version it does not speak, naming the side to upgrade once', async () => {
  const log = spyLogger();
  const node = await createScuttlebutt({
    node: { id: 'n', gossipPublicAddress: '127.0.0.1:0' },
    listenAddress: '127.0.0.1:0',
    gossipIntervalMs: 60_000,
    logger: log,
  });
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = Number(node.boundAddress.split(':')[1]);
  try {
    for (const version of SPOKEN) {
      const reply = await exchange(sock, port, seal(encodeMessage(SYN, version), ENVELOPE, { version }));
      const opened = openPacket(reply, ENVELOPE);
      assert.equal(opened.version, version, `a SYN in ${version} is answered in ${version}`);
      assert.equal(decodeMessage(opened.body, version).type, 'synAck');
    }
    const body = encodeMessage(SYN);
    const tooNew = PROTOCOL_VERSION + 1;
    for (const version of [tooNew, tooNew, 99, MIN_PROTOCOL_VERSION - 1])
      sock.send(Uint8Array.of(0x53, 0x42, version, 0, ...body), port, '127.0.0.1');
    await waitFor(
      () => (node.stats().dropped['envelope:version-too-old'] ?? 0) === 1,
      3000,
      'the packets of other versions counted',
    );
    const s = node.stats();
    assert.equal(s.dropped['envelope:version-too-new'], 3);
    const once = Object.fromEntries(SPOKEN.map((v) => [v, 1]));
    assert.deepEqual(s.packetsInByVersion, once);
    assert.deepEqual(s.packetsOutByVersion, once);
    const from = `127.0.0.1:${sock.address().port}`;
    assert.deepEqual(
      log.warnings.filter((w) => w.includes('speaks protocol')),
      [
        `peer ${from} speaks protocol ${tooNew}, this node speaks ${RANGE}: upgrade this node; its packets are dropped`,
        `peer ${from} speaks protocol 99, this node speaks ${RANGE}: upgrade this node; its packets are dropped`,
        `peer ${from} speaks protocol ${MIN_PROTOCOL_VERSION - 1}, this node speaks ${RANGE}: upgrade the peer; its packets are dropped`,
      ],
    );
    assert.equal(node.state().live.length, 1, 'nothing learned from the dropped packets');
  } finally {
    sock.close();
    await node.shutdown();
  }
});

test('current nodes send nothing in the old version once they have heard each other', async () => {
  const ports = freePorts(3);
  const nodes = await Promise.all(
    ports.map((port, i) =>
      createScuttlebutt({
        node: { id: `v${i}`, gossipPublicAddress: `127.0.0.1:${port}` },
        listenAddress: `127.0.0.1:${port}`,
        gossipIntervalMs: 100,
        failureDetector: { firstHeartbeatEstimateMs: 100 },
      }),
    ),
  );
  try {
    await Promise.all(nodes.slice(1).map((n) => n.join([`127.0.0.1:${ports[0]}`])));
    await waitFor(() => nodes.every((n) => n.state().live.length === 3), 5000, 'three see three');
    await new Promise((r) => setTimeout(r, 1000));
    const old = (n: (typeof nodes)[0]): number =>
      SPOKEN.filter((v) => v < PROTOCOL_VERSION).reduce(
        (k, v) => k + (n.stats().packetsOutByVersion[v] ?? 0) + (n.stats().packetsInByVersion[v] ?? 0),
        0,
      );
    const before = nodes.map(old);
    const sentBefore = nodes.map((n) => n.stats().packetsOutByVersion[PROTOCOL_VERSION] ?? 0);
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(nodes.map(old), before, 'no packet in an older protocol once converged');
    nodes.forEach((n, i) =>
      assert.ok(
        (n.stats().packetsOutByVersion[PROTOCOL_VERSION] ?? 0) > (sentBefore[i] as number) + 20,
        `gossip went on in ${PROTOCOL_VERSION}`,
      ),
    );
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown()));
  }
});

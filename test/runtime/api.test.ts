/** The library in-process: events (listeners, iterator, callbacks), config validation, the envelope. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { BindError, ConfigError, createScuttlebutt, defaultLanConfig, type MembershipEvent } from '../../src/index.js';
import { PROTOCOL_VERSION } from '../../src/wire/index.js';
import { EnvelopeError, open, seal } from '../../src/transport/envelope.js';
import { freePorts, loopbackConfig } from './procs.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

const cfg = loopbackConfig;

test('events reach listeners, the async iterator and the NotifyEvents callbacks; a throwing listener stalls nothing and counts as an error, not a drop', async () => {
  const [pa, pb] = freePorts(2) as [number, number];
  const notified: string[] = [];
  const a = await createScuttlebutt({
    ...cfg('a', pa),
    events: { notifyLive: (m) => notified.push(`live ${m.id}`), notifyUpdate: (m) => notified.push(`update ${m.id}`) },
  });
  const b = await createScuttlebutt(cfg('b', pb), { role: 'db' });
  try {
    a.on('live', () => {
      throw new Error('a broken listener');
    });
    const controller = new AbortController();
    const seen: MembershipEvent[] = [];
    // A reader that never reads, one event of room: every event past the first overflows it.
    a.events({ signal: controller.signal, buffer: 1 });
    const reading = (async () => {
      for await (const e of a.events({ signal: controller.signal })) {
        seen.push(e);
        if (e.type === 'update' && e.node.id === 'b' && e.node.metadata.load === '0.5') controller.abort();
      }
    })();
    await b.join([`127.0.0.1:${pa}`]);
    b.set('load', '0.5');
    await Promise.race([
      reading,
      new Promise((_, reject) => setTimeout(() => reject(new Error('iterator did not see the update')), 5000)),
    ]);
    assert.ok(seen.some((e) => e.type === 'live' && e.node.id === 'b' && e.node.metadata.role === 'db'));
    assert.ok(notified.includes('live b') && notified.includes('update b'), notified.join());
    const stats = a.stats();
    assert.ok(stats.errors.listener >= 1, 'the throwing listener was counted');
    assert.equal(stats.errors.internal, 0);
    assert.ok(stats.eventsOverflowed >= 1, `the unread stream overflowed: ${stats.eventsOverflowed}`);
    for (const key of ['listener-error', 'event-overflow'])
      assert.equal(stats.dropped[key], undefined, `errors and lost events are not dropped packets: ${key}`);
    assert.equal(a.state().live.length, 2, 'gossip went on');
    // Every member but self shows what the detector learned of it.
    const view = a.state();
    assert.equal(view.self.detector, undefined);
    const fd = view.live.find((m) => m.id === 'b')?.detector;
    assert.ok(fd && fd.samples >= 2 && fd.meanIntervalMs > 0 && fd.lagAllowanceMs >= 0, JSON.stringify(fd));
  } finally {
    await Promise.all([a.shutdown(), b.shutdown()]);
  }
  await assert.rejects(async () => a.join(['127.0.0.1:1']), { name: 'ClosedError', code: 'SB_ERR_CLOSED' });
  assert.throws(() => a.set('k', 'v'), { name: 'ClosedError', code: 'SB_ERR_CLOSED' });
});

test('a wrong config is rejected at construction, naming every wrong field', async () => {
  const bad = {
    ...cfg('x', 9),
    clusterId: '',
    gossipNodes: 0,
    listenAddress: 'nowhere',
    secretKeys: [new Uint8Array(20)],
    maxPacketBytes: 100_000,
    failureDetector: { ...defaultLanConfig().failureDetector, phiThreshold: -1 },
  };
  const err = await createScuttlebutt(bad).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConfigError);
  assert.equal(err.code, 'SB_ERR_CONFIG');
  assert.equal(err.name, 'ConfigError');
  for (const field of [
    'clusterId',
    'gossipNodes',
    'listenAddress',
    'secretKeys[0] must be 16, 24 or 32 bytes',
    'maxPacketBytes',
    'failureDetector.phiThreshold',
  ]) {
    assert.match(err.message, new RegExp(field.replace(/[[\]]/g, '\\$&')), `names ${field}`);
  }
  const [port] = freePorts(1) as [number];
  const first = await createScuttlebutt(cfg('y', port));
  try {
    await assert.rejects(createScuttlebutt(cfg('z', port)), (e: unknown) => {
      assert.ok(e instanceof BindError, String(e));
      assert.equal(e.code, 'SB_ERR_BIND');
      assert.equal(e.cause.code, 'EADDRINUSE', 'the socket error is kept as the cause');
      assert.match(e.message, /127\.0\.0\.1:\d+: address already in use/, 'the message names the address');
      return true;
    });
  } finally {
    await first.shutdown();
  }
});

test('envelope: compression only when it helps, every key size, keyring rotation, authenticated header', () => {
  const bytes = (b: Uint8Array): Uint8Array => new Uint8Array(b); // inflate hands back a Buffer: compare bytes only
  const opts = (keys: Uint8Array[], compress = true) => ({ keys, compress, maxPacketBytes: MAX_UDP_PAYLOAD });
  const repetitive = new TextEncoder().encode('heartbeat '.repeat(200));
  const random = new Uint8Array(randomBytes(300));
  assert.equal(seal(repetitive, opts([]))[3], 1, 'compressed');
  assert.ok(seal(repetitive, opts([])).length < repetitive.length);
  assert.equal(seal(random, opts([]))[3], 0, 'left alone when DEFLATE would not help');
  assert.deepEqual(bytes(open(seal(repetitive, opts([])), opts([]))), repetitive);
  for (const size of [16, 24, 32]) {
    const key = new Uint8Array(size).fill(size);
    assert.deepEqual(bytes(open(seal(repetitive, opts([key])), opts([key]))), repetitive);
  }
  const oldKey = new Uint8Array(16).fill(1);
  const newKey = new Uint8Array(32).fill(2);
  assert.deepEqual(
    bytes(open(seal(random, opts([oldKey])), opts([newKey, oldKey]))),
    random,
    'the old key still decrypts',
  );
  const fromNew = seal(random, opts([newKey, oldKey]));
  assert.deepEqual(bytes(open(fromNew, opts([oldKey, newKey]))), random);
  const reason = (f: () => unknown): string => {
    try {
      f();
      return 'none';
    } catch (e) {
      assert.ok(e instanceof EnvelopeError);
      return e.reason;
    }
  };
  assert.equal(
    reason(() => open(fromNew, opts([oldKey]))),
    'decrypt-failed',
  );
  const tampered = Uint8Array.from(fromNew);
  tampered[3] = (tampered[3] as number) | 1; // claim compression: the header is authenticated
  assert.equal(
    reason(() => open(tampered, opts([newKey]))),
    'decrypt-failed',
  );
  assert.equal(
    reason(() => open(seal(random, opts([])), opts([newKey]))),
    'plaintext-rejected',
  );
  assert.equal(
    reason(() => open(fromNew, opts([]))),
    'encrypted-rejected',
  );
  assert.equal(
    reason(() => open(Uint8Array.of(0x53, 0x42, 9, 0), opts([]))),
    'version-too-new',
  );
  assert.equal(
    reason(() => open(Uint8Array.of(0x53, 0x42, 2, 0), opts([]))),
    'version-too-old',
  );
  // A decompression bomb: 1 MB of zeros in a small packet is refused, not inflated.
  const bomb = Uint8Array.of(0x53, 0x42, PROTOCOL_VERSION, 1, ...deflateRawSync(new Uint8Array(1_000_000)));
  assert.equal(
    reason(() => open(bomb, opts([]))),
    'decompress-failed',
  );
});

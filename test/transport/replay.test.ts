/**
 * The replay window (transport/replay.ts) and its place in the envelope: each edge of the window,
 * the LRU bound, a packet that does not authenticate moving nothing, key rotation, and what
 * protocol 3 and 4 packets (which carry no counter) still let through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NonceSequence, ReplayWindows, STREAM_BYTES, WINDOW } from '../../src/transport/replay.js';
import {
  EnvelopeError,
  openPacket,
  seal,
  type EnvelopeOptions,
  type ReplayGuard,
} from '../../src/transport/envelope.js';
import { PROTOCOL_VERSION } from '../../src/wire/codec.js';
import { NUMBERED_COUNTER, NUMBERED_STREAM, packetCases, readFixture } from '../wire/golden.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

const stream = (b: number): Uint8Array => new Uint8Array(STREAM_BYTES).fill(b);
const nonce = (s: number, counter: number): Uint8Array => {
  const n = new Uint8Array(STREAM_BYTES + 4);
  n.set(stream(s));
  new DataView(n.buffer).setUint32(STREAM_BYTES, counter);
  return n;
};

test('window: a fresh stream is accepted at any counter, in order every packet once', () => {
  const w = new ReplayWindows();
  assert.equal(w.check(nonce(1, 4_000_000)), 'ok');
  assert.equal(w.accept(nonce(1, 4_000_000)), 'ok');
  for (let c = 4_000_001; c < 4_000_000 + 3 * WINDOW; c++) assert.equal(w.accept(nonce(1, c)), 'ok', `counter ${c}`);
  assert.equal(w.size, 1);
  assert.equal(w.deepestReorder, 0);
});

test('window: a duplicate is refused, whether it is the newest or an older one still inside the window', () => {
  const w = new ReplayWindows();
  for (const c of [10, 11, 15]) assert.equal(w.accept(nonce(1, c)), 'ok');
  assert.equal(w.check(nonce(1, 15)), 'replayed');
  assert.equal(w.accept(nonce(1, 15)), 'replayed');
  assert.equal(w.accept(nonce(1, 11)), 'replayed');
  assert.equal(w.accept(nonce(1, 10)), 'replayed');
});

test('window: reordered within the window is accepted once; the window edge is exact', () => {
  const w = new ReplayWindows();
  const top = 5 * WINDOW;
  assert.equal(w.accept(nonce(1, 100)), 'ok');
  assert.equal(w.accept(nonce(1, top)), 'ok');
  // Counters skipped over (sent to other peers, or still in flight) are accepted late, once.
  assert.equal(w.accept(nonce(1, top - 1)), 'ok');
  assert.equal(w.accept(nonce(1, top - 1)), 'replayed');
  assert.equal(w.accept(nonce(1, top - (WINDOW - 1))), 'ok', 'the oldest counter the window holds');
  assert.equal(w.deepestReorder, WINDOW - 1);
  assert.equal(w.check(nonce(1, top - WINDOW)), 'below-window');
  assert.equal(w.accept(nonce(1, top - WINDOW)), 'below-window', 'one further back');
  assert.equal(w.accept(nonce(1, 100)), 'below-window', 'the first packet, long passed');
});

test('window: sliding forward forgets the marks of the counters it passes, and a jump past the whole window clears it', () => {
  const w = new ReplayWindows();
  // Slot reuse: counter c and c + WINDOW share a bit; passing c must not make c + WINDOW look seen.
  for (let c = 0; c < WINDOW; c++) assert.equal(w.accept(nonce(1, c)), 'ok');
  assert.equal(w.accept(nonce(1, WINDOW + 5)), 'ok');
  for (let c = WINDOW; c < WINDOW + 5; c++) assert.equal(w.accept(nonce(1, c)), 'ok', `counter ${c} was never sent`);
  assert.equal(w.accept(nonce(1, 6)), 'replayed', 'counter 6 is still inside the window, and was accepted');
  assert.equal(w.accept(nonce(1, 5)), 'below-window', 'counter 5 shares its bit with the top, and is just out');
  const w2 = new ReplayWindows();
  for (let c = 0; c < 40; c++) w2.accept(nonce(2, c));
  assert.equal(w2.accept(nonce(2, 10 * WINDOW)), 'ok');
  for (let c = 10 * WINDOW - WINDOW + 1; c < 10 * WINDOW; c++)
    assert.equal(w2.check(nonce(2, c)), 'ok', `counter ${c} not seen`);
});

test('window: an older incarnation (the stream before a restart) is still refused while its window is held', () => {
  const w = new ReplayWindows();
  const before = new NonceSequence(() => stream(7));
  const recorded = Array.from({ length: 2 * WINDOW }, () => before.next());
  for (const n of recorded) assert.equal(w.accept(n), 'ok');
  const after = new NonceSequence(() => stream(8));
  for (let i = 0; i < 50; i++) assert.equal(w.accept(after.next()), 'ok');
  assert.equal(w.accept(recorded.at(-1)!), 'replayed');
  assert.equal(w.accept(recorded[0]!), 'below-window');
  assert.equal(w.size, 2);
});

test('window: at capacity the least recently accepted stream is forgotten, and then starts a fresh window', () => {
  const w = new ReplayWindows({ capacity: 2 });
  assert.equal(w.accept(nonce(1, 5)), 'ok');
  assert.equal(w.accept(nonce(2, 5)), 'ok');
  assert.equal(w.accept(nonce(1, 6)), 'ok'); // 1 is now the more recent
  assert.equal(w.accept(nonce(3, 5)), 'ok'); // evicts 2
  assert.equal(w.size, 2);
  assert.equal(w.accept(nonce(1, 5)), 'replayed', 'stream 1 kept');
  assert.equal(w.accept(nonce(3, 5)), 'replayed', 'stream 3 kept');
  assert.equal(w.check(nonce(2, 5)), 'ok', 'stream 2 forgotten: its replay gets in once');
  assert.equal(w.accept(nonce(2, 5)), 'ok');
  assert.equal(w.accept(nonce(2, 5)), 'replayed');
});

test('nonce sequence: a stream of distinct counters; a new stream before the counter would wrap', () => {
  let k = 0;
  const seq = new NonceSequence(() => stream(++k), 2 ** 32 - 2);
  const a = seq.next();
  const b = seq.next();
  const c = seq.next();
  assert.deepEqual([...a.subarray(0, STREAM_BYTES)], [...stream(1)]);
  assert.deepEqual([...a.subarray(STREAM_BYTES)], [0xff, 0xff, 0xff, 0xfe]);
  assert.deepEqual([...b.subarray(STREAM_BYTES)], [0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...c.subarray(0, STREAM_BYTES)], [...stream(2)], 'a new stream');
  assert.deepEqual([...c.subarray(STREAM_BYTES)], [0, 0, 0, 0]);
  assert.ok(seq.isOwn(c) && !seq.isOwn(a));
  const random = [new NonceSequence(), new NonceSequence()].map((s) =>
    Buffer.from(s.next().subarray(0, STREAM_BYTES)).toString('hex'),
  );
  assert.notEqual(random[0], random[1], 'streams are drawn at random');
});

const KEY_A = new Uint8Array(16).fill(0x11);
const KEY_B = new Uint8Array(32).fill(0x22);
const opts = (keys: Uint8Array[]): EnvelopeOptions => ({ keys, compress: false, maxPacketBytes: MAX_UDP_PAYLOAD });
const body = new TextEncoder().encode('a body that stands for a SYN');
const guard = (): ReplayGuard => ({ windows: new ReplayWindows(), own: new NonceSequence() });
const reason = (fn: () => unknown): string => {
  try {
    fn();
    return 'opened';
  } catch (err) {
    assert.ok(err instanceof EnvelopeError, String(err));
    return err.reason;
  }
};

test('envelope: a keyring packet of protocol 5 opens once; its replay is refused before it is decrypted; no byte is added', () => {
  const sender = new NonceSequence();
  const g = guard();
  const packet = seal(body, opts([KEY_A]), { sequence: sender });
  assert.equal(packet.length, seal(body, opts([KEY_A]), { version: 4 }).length, 'same size as protocol 4');
  assert.equal(
    reason(() => openPacket(packet, opts([KEY_A]), g)),
    'opened',
  );
  assert.equal(
    reason(() => openPacket(packet, opts([KEY_A]), g)),
    'replayed',
  );
  // Refused before decryption: with no key of the ring that opens it, the verdict is still "replayed".
  assert.equal(
    reason(() => openPacket(packet, opts([KEY_B]), g)),
    'replayed',
  );
  const reflected = seal(body, opts([KEY_A]), { sequence: g.own! });
  assert.equal(
    reason(() => openPacket(reflected, opts([KEY_A]), g)),
    'replayed',
    "the node's own packet, sent back to it",
  );
});

test('envelope: a packet that does not authenticate moves no window: the genuine packet of that nonce still opens', () => {
  const g = guard();
  const packet = seal(body, opts([KEY_A]), { sequence: new NonceSequence() });
  const forged = Uint8Array.from(packet);
  forged[forged.length - 20]! ^= 1;
  assert.equal(
    reason(() => openPacket(forged, opts([KEY_A]), g)),
    'decrypt-failed',
  );
  assert.equal(g.windows.size, 0);
  assert.equal(
    reason(() => openPacket(packet, opts([KEY_A]), g)),
    'opened',
  );
  // Nor can a forger raise a window's top with a far-ahead counter to push the real packets below it.
  const ahead = Uint8Array.from(packet);
  ahead.set([0x7f, 0xff, 0xff, 0xff], 4 + STREAM_BYTES);
  assert.equal(
    reason(() => openPacket(ahead, opts([KEY_A]), g)),
    'decrypt-failed',
  );
  const next = seal(body, opts([KEY_A]), { sequence: new NonceSequence() });
  assert.equal(
    reason(() => openPacket(next, opts([KEY_A]), g)),
    'opened',
  );
});

test('envelope: key rotation keeps working, and one window serves every key of the ring', () => {
  const sender = new NonceSequence();
  const g = guard();
  const old = seal(body, opts([KEY_A]), { sequence: sender });
  const rotated = seal(body, opts([KEY_B, KEY_A]), { sequence: sender });
  for (const p of [old, rotated])
    assert.equal(
      reason(() => openPacket(p, opts([KEY_B, KEY_A]), g)),
      'opened',
    );
  for (const p of [old, rotated])
    assert.equal(
      reason(() => openPacket(p, opts([KEY_B, KEY_A]), g)),
      'replayed',
    );
  assert.equal(
    reason(() => openPacket(seal(body, opts([KEY_A]), { sequence: sender }), opts([KEY_B]), g)),
    'decrypt-failed',
    'the old key removed from the ring',
  );
});

test('envelope: protocol 3 and 4 keyring packets, and plaintext, carry no counter: a replay of them opens again (docs/security.md)', () => {
  const g = guard();
  for (const version of [3, 4] as const) {
    const p = seal(body, opts([KEY_A]), { version, sequence: new NonceSequence() });
    assert.equal(
      reason(() => openPacket(p, opts([KEY_A]), g)),
      'opened',
    );
    assert.equal(
      reason(() => openPacket(p, opts([KEY_A]), g)),
      'opened',
    );
  }
  const plain = seal(body, opts([]), { sequence: new NonceSequence() });
  assert.equal(
    reason(() => openPacket(plain, opts([]), g)),
    'opened',
  );
  assert.equal(
    reason(() => openPacket(plain, opts([]), g)),
    'opened',
  );
  assert.equal(g.windows.size, 0, 'no window spent on them');
  // A protocol 5 packet cannot be passed off as 4 to escape its window: the version is authenticated.
  const v5 = seal(body, opts([KEY_A]), { sequence: new NonceSequence() });
  assert.equal(
    reason(() => openPacket(v5, opts([KEY_A]), g)),
    'opened',
  );
  const downgraded = Uint8Array.from(v5);
  downgraded[2] = 4;
  assert.equal(
    reason(() => openPacket(downgraded, opts([KEY_A]), g)),
    'decrypt-failed',
  );
  // Protocols 6 (queries) and 7 (liveness) number their nonces as 5 does: the packet above, sealed in the newest, had
  // its window.
  assert.equal(PROTOCOL_VERSION, 7, 'update this test when a protocol after 7 changes the window');
});

test('golden: the numbered packets of protocol 5 carry stream and counter as their nonce, and open once', () => {
  const fixture = readFixture(5);
  for (const c of packetCases(5).filter((p) => p.numbered)) {
    const packet = fixture.get(c.name)!;
    assert.deepEqual([...packet.subarray(4, 4 + STREAM_BYTES)], [...NUMBERED_STREAM], `${c.name}: the stream`);
    assert.equal(
      new DataView(packet.buffer, packet.byteOffset).getUint32(4 + STREAM_BYTES),
      NUMBERED_COUNTER,
      `${c.name}: the counter`,
    );
    const g = guard();
    assert.equal(
      reason(() => openPacket(packet, c.options, g)),
      'opened',
    );
    assert.equal(
      reason(() => openPacket(packet, c.options, g)),
      'replayed',
    );
  }
});

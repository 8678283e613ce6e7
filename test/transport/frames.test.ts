/**
 * Stream frames without sockets: the reader cuts any chunking into the frames sent, refuses a length
 * above the limit after its 4 bytes with nothing allocated, and shows a stream that ended mid-frame;
 * the opener takes one stream's frames only in its own nonce sequence, so frames replayed from UDP,
 * from another stream, repeated or reordered are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EnvelopeError, seal, type EnvelopeOptions } from '../../src/transport/envelope.js';
import {
  encodeFrame,
  FRAME_PREFIX_BYTES,
  FrameOpener,
  FrameReader,
  FrameSealer,
  SeenStreams,
} from '../../src/transport/frames.js';
import { NonceSequence, ReplayWindows } from '../../src/transport/replay.js';
import { openPacket } from '../../src/transport/envelope.js';

const KEY = new Uint8Array(16).fill(7);
const OPTS: EnvelopeOptions = { keys: [KEY], compress: true, maxPacketBytes: 1400 };

function bodies(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) =>
    Uint8Array.from({ length: 50 + ((i * 37) % 900) }, (_, j) => (i + j) & 255),
  );
}

/** Splits `bytes` into chunks of the given sizes, cycling through them. */
function chunked(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length] as number;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('the reader gives back the frames sent, in order, however the bytes are chunked', () => {
  const packets = bodies(40);
  const wire = concat(packets.map(encodeFrame));
  for (const sizes of [[1], [3], [4], [5], [1400], [wire.length], [2, 7, 1, 500, 13]]) {
    const reader = new FrameReader(1400);
    const got: Uint8Array[] = [];
    for (const c of chunked(wire, sizes)) {
      const r = reader.push(c);
      assert.equal(r.tooBig, undefined);
      got.push(...r.frames);
    }
    assert.deepEqual(got, packets, `chunks of ${sizes.join(',')}`);
    assert.equal(reader.partialBytes, 0);
  }
});

test('a length above the limit is refused after its 4 bytes, before anything is allocated for it', () => {
  const reader = new FrameReader(1400);
  const ok = encodeFrame(new Uint8Array(100).fill(1));
  const huge = Uint8Array.of(0xff, 0xff, 0xff, 0xf0);
  // The prefix arrives a byte at a time: nothing is held but the 4-byte prefix itself.
  let r = reader.push(ok);
  assert.equal(r.frames.length, 1);
  for (let i = 0; i < 3; i++) assert.equal(reader.push(huge.subarray(i, i + 1)).tooBig, undefined);
  r = reader.push(concat([huge.subarray(3), new Uint8Array(5000)]));
  assert.equal(r.tooBig, 0xfffffff0);
  assert.equal(reader.bufferedBytes, 0, 'nothing allocated for the refused frame');
  // Nothing after it is read.
  assert.deepEqual(reader.push(ok), { frames: [] });
  // One above the limit is refused; the limit itself is taken; so is a zero length (no envelope is empty).
  assert.equal(new FrameReader(1400).push(encodeFrame(new Uint8Array(1401))).tooBig, 1401);
  assert.equal(new FrameReader(1400).push(encodeFrame(new Uint8Array(1400))).frames.length, 1);
  assert.equal(new FrameReader(1400).push(Uint8Array.of(0, 0, 0, 0)).tooBig, 0);
});

test('a stream that stops mid-frame shows the partial bytes, and the partial frame is never given', () => {
  const wire = concat(bodies(3).map(encodeFrame));
  for (const cut of [1, FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + 10, wire.length - 1]) {
    const reader = new FrameReader(1400);
    const r = reader.push(wire.subarray(0, cut));
    assert.ok(reader.partialBytes > 0, `cut at ${cut}`);
    assert.ok(r.frames.length < 3);
  }
});

test('the opener takes a stream of frames in order, and refuses them repeated, reordered or spliced', () => {
  const sealer = new FrameSealer();
  const frames = bodies(5).map((b) => sealer.seal(b, OPTS).subarray(FRAME_PREFIX_BYTES));
  const opener = new FrameOpener();
  assert.deepEqual(
    frames.slice(0, 3).map((f) => Uint8Array.from(opener.open(f, OPTS).body)),
    bodies(3),
  );
  const reason = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof EnvelopeError);
      return err.reason;
    }
    return 'accepted';
  };
  assert.equal(
    reason(() => opener.open(frames[2] as Uint8Array, OPTS)),
    'replayed',
    'repeated',
  );
  assert.equal(
    reason(() => opener.open(frames[4] as Uint8Array, OPTS)),
    'replayed',
    'skips one',
  );
  // The 4th frame of another stream, at the right position: another nonce stream.
  const other = new FrameSealer();
  const otherFrames = bodies(4).map((b) => other.seal(b, OPTS).subarray(FRAME_PREFIX_BYTES));
  assert.equal(
    reason(() => opener.open(otherFrames[3] as Uint8Array, OPTS)),
    'replayed',
    'spliced',
  );
  assert.equal(
    reason(() => opener.open(frames[3] as Uint8Array, OPTS)),
    'accepted',
    'the stream goes on',
  );
});

test('a UDP packet is no stream frame; an opening frame is taken once per node', () => {
  const udpSender = new NonceSequence();
  const udpWindows = new ReplayWindows();
  const udp = [0, 1].map(() => seal(new Uint8Array(40).fill(3), OPTS, { sequence: udpSender }));
  for (const p of udp) openPacket(p, OPTS, { windows: udpWindows });
  const seen = new SeenStreams();
  const reason = (packet: Uint8Array, opener = new FrameOpener({ seen, udpWindows })): string => {
    try {
      opener.open(packet, OPTS);
      return 'accepted';
    } catch (err) {
      assert.ok(err instanceof EnvelopeError);
      return err.reason;
    }
  };
  assert.equal(reason(udp[1] as Uint8Array), 'replayed', 'counter 1 cannot open a stream');
  assert.equal(reason(udp[0] as Uint8Array), 'replayed', 'counter 0 of a nonce stream heard over UDP');
  const first = new FrameSealer().seal(new Uint8Array(20), OPTS).subarray(FRAME_PREFIX_BYTES);
  assert.equal(reason(first), 'accepted');
  assert.equal(reason(first), 'replayed', 'the same opening frame on a new connection');
  // A frame of this connection's own sequence sent back to it: a reflection.
  const own = new FrameSealer();
  const mine = own.seal(new Uint8Array(20), OPTS).subarray(FRAME_PREFIX_BYTES);
  assert.equal(reason(mine, new FrameOpener({ own: own.nonces })), 'replayed');
});

test('a frame under another key, or corrupt, is refused and claims no nonce stream', () => {
  const seen = new SeenStreams();
  const wrong: EnvelopeOptions = { ...OPTS, keys: [new Uint8Array(16).fill(8)] };
  const sealer = new FrameSealer();
  const frame = sealer.seal(new Uint8Array(30), wrong).subarray(FRAME_PREFIX_BYTES);
  assert.throws(() => new FrameOpener({ seen }).open(frame, OPTS), { reason: 'decrypt-failed' });
  const good = new FrameSealer().seal(new Uint8Array(30), OPTS).subarray(FRAME_PREFIX_BYTES);
  const flipped = Uint8Array.from(good);
  flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
  assert.throws(() => new FrameOpener({ seen }).open(flipped, OPTS), { reason: 'decrypt-failed' });
  // The refused copy did not mark the nonce stream: the genuine frame still opens.
  assert.doesNotThrow(() => new FrameOpener({ seen }).open(good, OPTS));
  // Plaintext where a key is required, and the reverse.
  const plain = new FrameSealer().seal(new Uint8Array(30), { ...OPTS, keys: [] }).subarray(FRAME_PREFIX_BYTES);
  assert.throws(() => new FrameOpener().open(plain, OPTS), { reason: 'plaintext-rejected' });
  assert.throws(() => new FrameOpener().open(good, { ...OPTS, keys: [] }), { reason: 'encrypted-rejected' });
  assert.equal(new FrameOpener().open(plain, { ...OPTS, keys: [] }).body.length, 30);
});

/**
 * Replay protection for keyring packets of protocol 5 on, carried in the AES-GCM nonce, which the
 * tag authenticates: so it costs no byte. The 12-byte nonce of such a packet is
 *
 *   stream (8 bytes, drawn at random when the sender starts) ‖ counter (4 bytes, big-endian, +1 per packet)
 *
 * which is also the deterministic nonce construction of NIST SP 800-38D (8.2.1): a (key, nonce) pair
 * repeats only if two streams draw the same 64 bits, instead of whenever two of all the packets ever
 * sealed under a key draw the same 96.
 *
 * A receiver keeps, per stream, the highest counter it has accepted and a bitmap of the WINDOW
 * counters below it (the anti-replay window of IPsec, RFC 4303 3.4.3, and WireGuard). A counter
 * already marked, or below the window, is a replay (or a packet reordered further than any network
 * reorders one) and is dropped before the body is decrypted or decoded. Windows are keyed by the
 * stream inside the packet, not by its source address: a replay is sent from wherever the
 * attacker likes, and it must meet the window of the packet it copies.
 *
 * One stream serves every peer, so a receiver sees a sparse part of it, and a packet to it can be
 * overtaken by as many packets as its sender sent to anyone in between: WINDOW counts those.
 * Windows are bounded (`capacity`, least recently used forgotten first). A forgotten or never-seen
 * stream starts a fresh window at its first packet: see docs/security.md for what a replay can do then.
 */
import { randomBytes } from 'node:crypto';
import { makeRoom, touch } from './lru.js';
import { InvalidArgumentError } from '../errors.js';

export const STREAM_BYTES = 8;
const COUNTER_LIMIT = 2 ** 32;
/** Counters below a stream's highest that a receiver still accepts once (a multiple of 32). */
export const WINDOW = 1024;
const WORDS = WINDOW / 32;
const DEFAULT_CAPACITY = 16_384;

/** The sender's side: one stream of nonces; a new stream when the counter would wrap. */
export class NonceSequence {
  private stream: Uint8Array;
  private counter: number;

  /** `draw` and `firstCounter` are for tests (a stream's end is 2^32 packets away). */
  constructor(
    private readonly draw: () => Uint8Array = () => randomBytes(STREAM_BYTES),
    firstCounter = 0,
  ) {
    this.stream = this.fresh();
    this.counter = firstCounter;
  }

  /** The next nonce: never the same twice in this process, nor (but for a 64-bit collision) in another. */
  next(): Uint8Array {
    if (this.counter >= COUNTER_LIMIT) {
      this.stream = this.fresh();
      this.counter = 0;
    }
    const nonce = new Uint8Array(STREAM_BYTES + 4);
    nonce.set(this.stream);
    new DataView(nonce.buffer).setUint32(STREAM_BYTES, this.counter++);
    return nonce;
  }

  /** Whether a nonce is of this sender's current stream: its own packet, reflected back to it. */
  isOwn(nonce: Uint8Array): boolean {
    for (let i = 0; i < STREAM_BYTES; i++) if (nonce[i] !== this.stream[i]) return false;
    return true;
  }

  private fresh(): Uint8Array {
    const s = this.draw();
    if (s.length !== STREAM_BYTES)
      throw new InvalidArgumentError(`a stream id is ${STREAM_BYTES} bytes (got ${s.length})`);
    return Uint8Array.from(s);
  }
}

/** Why a nonce was refused: seen before, or older than the window. */
export type ReplayVerdict = 'ok' | 'replayed' | 'below-window';

interface Window {
  highest: number;
  /** Bit (c mod WINDOW) is set when counter c, within WINDOW of `highest`, was accepted. */
  readonly bits: Uint32Array;
}

export interface ReplayWindowOptions {
  /** Streams remembered; past it the least recently accepted is forgotten. */
  readonly capacity?: number;
}

/** The receiver's side: a window per stream. */
export class ReplayWindows {
  private readonly windows = new Map<string, Window>();
  private readonly capacity: number;
  /** The furthest back (in the sender's counters) an accepted packet arrived behind its stream's highest. */
  deepestReorder = 0;

  constructor(options: ReplayWindowOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    if (!(this.capacity >= 1)) throw new InvalidArgumentError(`capacity must be at least 1 (got ${this.capacity})`);
  }

  /** What accepting `nonce` would say, changing nothing: checked before the packet is authenticated. */
  check(nonce: Uint8Array): ReplayVerdict {
    const w = this.windows.get(streamKey(nonce));
    return w ? verdict(w, counterOf(nonce)) : 'ok';
  }

  /** Whether the nonce stream of `nonce` has a window here (a sender heard over UDP); changes nothing. */
  knows(nonce: Uint8Array): boolean {
    return this.windows.has(streamKey(nonce));
  }

  /** Marks `nonce` seen, if it is not a replay: only once its packet has authenticated. */
  accept(nonce: Uint8Array): ReplayVerdict {
    const key = streamKey(nonce);
    const counter = counterOf(nonce);
    let w = this.windows.get(key);
    if (!w) {
      makeRoom(this.windows, this.capacity);
      w = { highest: counter, bits: new Uint32Array(WORDS) };
      mark(w, counter);
      this.windows.set(key, w);
      return 'ok';
    }
    const v = verdict(w, counter);
    if (v !== 'ok') return v;
    if (counter > w.highest) {
      const advance = counter - w.highest;
      if (advance >= WINDOW) w.bits.fill(0);
      else for (let c = w.highest + 1; c < counter; c++) unmark(w, c);
      w.highest = counter;
    } else {
      this.deepestReorder = Math.max(this.deepestReorder, w.highest - counter);
    }
    mark(w, counter);
    // Least recently accepted first.
    touch(this.windows, key, w);
    return 'ok';
  }

  get size(): number {
    return this.windows.size;
  }
}

function verdict(w: Window, counter: number): ReplayVerdict {
  if (counter > w.highest) return 'ok';
  if (w.highest - counter >= WINDOW) return 'below-window';
  return isMarked(w, counter) ? 'replayed' : 'ok';
}

function mark(w: Window, c: number): void {
  const i = c % WINDOW;
  w.bits[i >>> 5] = (w.bits[i >>> 5] as number) | (1 << (i & 31));
}

function unmark(w: Window, c: number): void {
  const i = c % WINDOW;
  w.bits[i >>> 5] = (w.bits[i >>> 5] as number) & ~(1 << (i & 31));
}

function isMarked(w: Window, c: number): boolean {
  const i = c % WINDOW;
  return ((w.bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
}

function streamKey(nonce: Uint8Array): string {
  let s = '';
  for (let i = 0; i < STREAM_BYTES; i++) s += (nonce[i] as number).toString(16).padStart(2, '0');
  return s;
}

function counterOf(nonce: Uint8Array): number {
  return new DataView(nonce.buffer, nonce.byteOffset, nonce.byteLength).getUint32(STREAM_BYTES);
}

/**
 * Frames of a TCP stream (docs/design/liveness-7.md, "The stream"): a 4-byte big-endian length, then
 * one sealed envelope exactly as on UDP (transport/envelope.ts). Pure: no sockets, no clocks.
 *
 * - {@link FrameReader} cuts a byte stream into frames. A length above the frame limit is refused as
 *   soon as its 4 bytes are read, before anything is allocated for it: a peer cannot make this node
 *   reserve memory by announcing a large frame. At most one frame of at most the limit is buffered.
 * - {@link FrameSealer} and {@link FrameOpener} give each stream its own nonce stream and replay state.
 *   The sender seals a stream's frames with a {@link NonceSequence} of its own, so its frames carry
 *   counters 0, 1, 2, ... of one fresh 8-byte nonce stream. TCP delivers in order, so the receiver
 *   needs no window: it pins the first frame's nonce stream, and takes each next frame only with the
 *   same stream and the next counter. A frame copied from UDP or from another stream (of this or any
 *   connection) has another nonce stream or another counter and is refused, as is a frame repeated
 *   or reordered within the stream. A whole stream's opening frame replayed on a new connection is
 *   refused while its nonce stream is remembered (`seen`), or known to the UDP replay windows.
 */
import { NonceSequence, STREAM_BYTES, type ReplayWindows } from './replay.js';
import {
  EnvelopeError,
  openPacket,
  REPLAY_WINDOW_VERSION,
  seal,
  type EnvelopeOptions,
  type Opened,
} from './envelope.js';
import { makeRoom, touch } from './lru.js';
import { ENVELOPE_HEADER_BYTES, PROTOCOL_VERSION, type ProtocolVersion } from '../wire/codec.js';
import { AES_GCM_NONCE_BYTES, ENCRYPTION_OVERHEAD } from '../wire/envelope-sizes.js';
import { InvalidArgumentError } from '../errors.js';

/** Bytes of a frame's length prefix. */
export const FRAME_PREFIX_BYTES = 4;
const FLAG_ENCRYPTED = 2;

/** A sealed envelope with its length prefix, ready to write to the socket. */
export function encodeFrame(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_PREFIX_BYTES + packet.length);
  new DataView(out.buffer).setUint32(0, packet.length);
  out.set(packet, FRAME_PREFIX_BYTES);
  return out;
}

/** What {@link FrameReader.push} found: whole frames in order, and whether a length prefix was refused. */
export interface FrameChunkResult {
  readonly frames: Uint8Array[];
  /** A length prefix above the limit (or zero) was read; nothing after it is read, and nothing was allocated for it. */
  readonly tooBig?: number;
}

/** Cuts a byte stream into frames of 1 to `maxFrameBytes` bytes (the envelope, without its prefix). */
export class FrameReader {
  private readonly prefix = new Uint8Array(FRAME_PREFIX_BYTES);
  private prefixFill = 0;
  private frame: Uint8Array | null = null;
  private frameFill = 0;
  private refused = false;

  constructor(private readonly maxFrameBytes: number) {
    if (!(maxFrameBytes >= 1))
      throw new InvalidArgumentError(`maxFrameBytes must be at least 1 (got ${maxFrameBytes})`);
  }

  /** Takes the next bytes of the stream; after a refused prefix it reads nothing more. */
  push(chunk: Uint8Array): FrameChunkResult {
    const frames: Uint8Array[] = [];
    let at = 0;
    while (!this.refused && at < chunk.length) {
      if (this.frame === null) {
        const take = Math.min(FRAME_PREFIX_BYTES - this.prefixFill, chunk.length - at);
        this.prefix.set(chunk.subarray(at, at + take), this.prefixFill);
        this.prefixFill += take;
        at += take;
        if (this.prefixFill < FRAME_PREFIX_BYTES) break;
        const length = new DataView(this.prefix.buffer).getUint32(0);
        this.prefixFill = 0;
        // Checked before the frame's buffer exists: the announced size costs nothing.
        if (length > this.maxFrameBytes || length === 0) {
          this.refused = true;
          return { frames, tooBig: length };
        }
        this.frame = new Uint8Array(length);
        this.frameFill = 0;
      }
      const take = Math.min(this.frame.length - this.frameFill, chunk.length - at);
      this.frame.set(chunk.subarray(at, at + take), this.frameFill);
      this.frameFill += take;
      at += take;
      if (this.frameFill === this.frame.length) {
        frames.push(this.frame);
        this.frame = null;
      }
    }
    return { frames };
  }

  /** Bytes read of a frame (or its prefix) not yet complete: non-zero when the stream ended mid-frame. */
  get partialBytes(): number {
    return this.frame === null ? this.prefixFill : FRAME_PREFIX_BYTES + this.frameFill;
  }

  /** Bytes held for the frame being read (0 between frames and after a refused prefix). */
  get bufferedBytes(): number {
    return this.frame?.length ?? 0;
  }
}

/** Seals one stream's outgoing frames, with the stream's own nonce sequence (counters from 0). */
export class FrameSealer {
  /** This stream's nonces; the opener of the same connection refuses one of them coming back. */
  readonly nonces: NonceSequence;

  constructor(
    private readonly version: ProtocolVersion = PROTOCOL_VERSION,
    nonces: NonceSequence = new NonceSequence(),
  ) {
    if (version < REPLAY_WINDOW_VERSION)
      throw new InvalidArgumentError(
        `a stream is sealed in protocol ${REPLAY_WINDOW_VERSION} or later (got ${version})`,
      );
    this.nonces = nonces;
  }

  /** The framed, sealed body (prefix included). `opts` is read at each call, so a key rotation applies at once. */
  seal(body: Uint8Array, opts: EnvelopeOptions): Uint8Array {
    return encodeFrame(seal(body, opts, { version: this.version, sequence: this.nonces }));
  }
}

/** Nonce streams that opened a stream here, remembered so that a replayed opening frame is refused. */
export class SeenStreams {
  private readonly ids = new Map<string, true>();

  constructor(private readonly capacity = 4096) {}

  /** Whether `id` opened a stream here before; remembers it either way. */
  seenBefore(id: string): boolean {
    const was = this.ids.has(id);
    if (!was) makeRoom(this.ids, this.capacity);
    touch(this.ids, id, true);
    return was;
  }
}

/** Where else a stream's opening frame may have been seen. */
export interface FrameOpenerContext {
  /** Nonce streams that opened earlier streams here (shared by all of a node's streams). */
  readonly seen?: SeenStreams;
  /** The UDP replay windows: a nonce stream they know is a UDP sender's, never a stream's. */
  readonly udpWindows?: Pick<ReplayWindows, 'knows'>;
  /** This connection's own outgoing nonces: one of them coming back is a reflection. */
  readonly own?: NonceSequence;
}

/**
 * Opens one stream's incoming frames in order; throws only EnvelopeError (the envelope's reasons, and
 * 'replayed' for a frame out of this stream's nonce sequence).
 */
export class FrameOpener {
  private stream: string | null = null;
  private nextCounter = 0;

  constructor(private readonly context: FrameOpenerContext = {}) {}

  open(packet: Uint8Array, opts: EnvelopeOptions): Opened {
    const encrypted =
      packet.length >= ENVELOPE_HEADER_BYTES + ENCRYPTION_OVERHEAD &&
      ((packet[3] as number) & FLAG_ENCRYPTED) !== 0 &&
      opts.keys.length > 0;
    if (!encrypted) return openPacket(packet, opts);
    if ((packet[2] as number) < REPLAY_WINDOW_VERSION)
      throw new EnvelopeError('version-too-old', `a stream frame of protocol ${packet[2] as number}`);
    const nonce = packet.subarray(ENVELOPE_HEADER_BYTES, ENVELOPE_HEADER_BYTES + AES_GCM_NONCE_BYTES);
    const id = streamId(nonce);
    const counter = new DataView(nonce.buffer, nonce.byteOffset, nonce.byteLength).getUint32(STREAM_BYTES);
    if (this.context.own?.isOwn(nonce)) throw new EnvelopeError('replayed', 'a frame of this stream came back');
    if (this.stream !== null && id !== this.stream)
      throw new EnvelopeError('replayed', 'a frame of another nonce stream');
    if (counter !== this.nextCounter)
      throw new EnvelopeError('replayed', `frame counter ${counter}, expected ${this.nextCounter}`);
    if (this.stream === null && this.context.udpWindows?.knows(nonce))
      throw new EnvelopeError('replayed', 'a UDP packet as a stream frame');
    // Authenticated before it is pinned or remembered: a forged frame must not claim a nonce stream.
    const opened = openPacket(packet, opts);
    if (this.stream === null) {
      if (this.context.seen?.seenBefore(id))
        throw new EnvelopeError('replayed', 'the opening frame of an earlier stream');
      this.stream = id;
    }
    this.nextCounter++;
    return opened;
  }
}

function streamId(nonce: Uint8Array): string {
  let s = '';
  for (let i = 0; i < STREAM_BYTES; i++) s += (nonce[i] as number).toString(16).padStart(2, '0');
  return s;
}

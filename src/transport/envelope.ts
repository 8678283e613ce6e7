/**
 * The envelope around every message body: magic, protocol version, flags, then the body,
 * optionally compressed (raw DEFLATE, only when it helps) and encrypted (AES-GCM with a keyring).
 * The header is the same in every protocol version, so a node reads the version of any packet and
 * can answer in it (see transport/negotiation.ts).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { WINDOW, type NonceSequence, type ReplayVerdict, type ReplayWindows } from './replay.js';
import {
  AES_GCM_NONCE_BYTES,
  AES_GCM_TAG_BYTES,
  ENCRYPTION_OVERHEAD,
  MIN_COMPRESS_BYTES,
} from '../wire/envelope-sizes.js';
import {
  ENVELOPE_HEADER_BYTES,
  isSupportedVersion,
  MAGIC_0,
  MAGIC_1,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from '../wire/codec.js';
import { InvalidArgumentError, ScuttlebuttError } from '../errors.js';

const FLAG_COMPRESSED = 1;
const FLAG_ENCRYPTED = 2;
/** The first protocol version whose keyring packets number their nonces (see transport/replay.ts). */
export const REPLAY_WINDOW_VERSION = 5;

export type EnvelopeErrorReason =
  | 'truncated'
  | 'bad-magic'
  | 'version-too-new'
  | 'version-too-old'
  | 'bad-flags'
  | 'plaintext-rejected'
  | 'encrypted-rejected'
  | 'decrypt-failed'
  | 'decompress-failed'
  | 'oversized'
  /** A keyring packet of protocol 5 on that the replay window refused (transport/replay.ts). */
  | Exclude<ReplayVerdict, 'ok'>;

/** `SB_ERR_ENVELOPE`: a packet refused before its body was decoded, with a reason to count by. */
export class EnvelopeError extends ScuttlebuttError {
  readonly code = 'SB_ERR_ENVELOPE';
  override readonly name = 'EnvelopeError';

  constructor(
    readonly reason: EnvelopeErrorReason,
    detail: string,
    /** The packet's protocol version, for 'version-too-new' and 'version-too-old'. */
    readonly version?: number,
  ) {
    super(`${reason}: ${detail}`);
  }
}

export interface EnvelopeOptions {
  /** AES keys: the first encrypts, every one is tried to decrypt. Empty: no encryption. */
  readonly keys: readonly Uint8Array[];
  readonly compress: boolean;
  /** Largest packet accepted or produced, header included. Also bounds inflation. */
  readonly maxPacketBytes: number;
}

function cipherName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  switch (key.length) {
    case 16:
      return 'aes-128-gcm';
    case 24:
      return 'aes-192-gcm';
    case 32:
      return 'aes-256-gcm';
    default:
      throw new InvalidArgumentError(`AES key must be 16, 24 or 32 bytes (got ${key.length})`);
  }
}

/** Bytes the envelope adds to a body, so the core's payload budget leaves room for them. */
export function envelopeOverhead(encrypted: boolean): number {
  return ENVELOPE_HEADER_BYTES + (encrypted ? ENCRYPTION_OVERHEAD : 0);
}

/** What one seal may fix beyond the options: the version to write, and (golden fixtures only) the nonce. */
export interface SealParams {
  readonly version?: ProtocolVersion;
  /**
   * A fixed 12-byte nonce, so that test fixtures are reproducible. Never in production: AES-GCM
   * with a repeated (key, nonce) pair leaks the XOR of the plaintexts and the authentication key.
   */
  readonly nonce?: Uint8Array;
  /**
   * The sender's numbered nonces, for a keyring packet of protocol 5 on: receivers then drop a
   * replay of it. Without it (and in 3 and 4) the nonce is random, and the packet unprotected.
   */
  readonly sequence?: NonceSequence;
}

/** The receiver's replay state: its windows, and its own stream (a packet of it came back: a reflection). */
export interface ReplayGuard {
  readonly windows: ReplayWindows;
  readonly own?: NonceSequence;
}

/** A packet opened: its body and the protocol version it was written in. */
export interface Opened {
  readonly version: ProtocolVersion;
  readonly body: Uint8Array;
}

export function seal(body: Uint8Array, opts: EnvelopeOptions, params: SealParams = {}): Uint8Array {
  const version = params.version ?? PROTOCOL_VERSION;
  if (!isSupportedVersion(version))
    throw new InvalidArgumentError(
      `protocol version ${String(version)} is not spoken here (${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION})`,
    );
  let flags = 0;
  let payload: Uint8Array = body;
  if (opts.compress && body.length >= MIN_COMPRESS_BYTES) {
    const deflated = deflateRawSync(body);
    if (deflated.length < body.length) {
      payload = deflated;
      flags |= FLAG_COMPRESSED;
    }
  }
  const key = opts.keys[0];
  if (key) flags |= FLAG_ENCRYPTED;
  const header = Uint8Array.of(MAGIC_0, MAGIC_1, version, flags);
  if (!key) return concat([header, payload]);
  if (params.nonce && params.nonce.length !== AES_GCM_NONCE_BYTES)
    throw new InvalidArgumentError(`a nonce is ${AES_GCM_NONCE_BYTES} bytes (got ${params.nonce.length})`);
  const nonce =
    params.nonce ??
    (params.sequence && version >= REPLAY_WINDOW_VERSION ? params.sequence.next() : randomBytes(AES_GCM_NONCE_BYTES));
  const cipher = createCipheriv(cipherName(key), key, nonce);
  // The header is authenticated: flipping the version or the flags breaks the tag.
  cipher.setAAD(header);
  const encrypted = cipher.update(payload);
  const final = cipher.final();
  return concat([header, nonce, encrypted, final, cipher.getAuthTag()]);
}

/**
 * Opens a packet of any version this node speaks; throws only EnvelopeError. With `guard`, a keyring
 * packet of protocol 5 on is refused as a replay ('replayed', 'below-window') before it is decrypted,
 * and marked seen once it has authenticated.
 */
export function openPacket(packet: Uint8Array, opts: EnvelopeOptions, guard?: ReplayGuard): Opened {
  if (packet.length > opts.maxPacketBytes)
    throw new EnvelopeError('oversized', `${packet.length} bytes > ${opts.maxPacketBytes}`);
  if (packet.length < ENVELOPE_HEADER_BYTES) throw new EnvelopeError('truncated', `${packet.length}-byte packet`);
  if (packet[0] !== MAGIC_0 || packet[1] !== MAGIC_1) throw new EnvelopeError('bad-magic', 'not a scuttlebutt packet');
  const version = packet[2] as number;
  if (version > PROTOCOL_VERSION)
    throw new EnvelopeError(
      'version-too-new',
      `protocol version ${version}, this node speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`,
      version,
    );
  if (!isSupportedVersion(version))
    throw new EnvelopeError(
      'version-too-old',
      `protocol version ${version}, this node speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`,
      version,
    );
  const flags = packet[3] as number;
  if (flags > (FLAG_COMPRESSED | FLAG_ENCRYPTED)) throw new EnvelopeError('bad-flags', `flags ${flags}`);
  const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
  if (encrypted && opts.keys.length === 0)
    throw new EnvelopeError('encrypted-rejected', 'encrypted packet, but this node has no key');
  if (!encrypted && opts.keys.length > 0)
    throw new EnvelopeError('plaintext-rejected', 'plaintext packet, but this node requires encryption');
  let payload = packet.subarray(ENVELOPE_HEADER_BYTES);
  if (encrypted) {
    const numbered =
      guard !== undefined &&
      version >= REPLAY_WINDOW_VERSION &&
      packet.length >= ENVELOPE_HEADER_BYTES + ENCRYPTION_OVERHEAD;
    const nonce = packet.subarray(ENVELOPE_HEADER_BYTES, ENVELOPE_HEADER_BYTES + AES_GCM_NONCE_BYTES);
    if (numbered) refuseReplay(guard.own?.isOwn(nonce) ? 'replayed' : guard.windows.check(nonce));
    payload = decrypt(packet, opts.keys);
    // Marked only now: a packet that does not authenticate must not move a window.
    if (numbered) refuseReplay(guard.windows.accept(nonce));
  }
  if ((flags & FLAG_COMPRESSED) !== 0) {
    try {
      payload = inflateRawSync(payload, { maxOutputLength: opts.maxPacketBytes });
    } catch (err) {
      throw new EnvelopeError('decompress-failed', (err as Error).message);
    }
  }
  return { version, body: payload };
}

/** Opens a packet and returns its body (see openPacket for its version). */
export function open(packet: Uint8Array, opts: EnvelopeOptions): Uint8Array {
  return openPacket(packet, opts).body;
}

function refuseReplay(v: ReplayVerdict): void {
  if (v === 'replayed') throw new EnvelopeError('replayed', 'a packet of this nonce was accepted already');
  if (v === 'below-window')
    throw new EnvelopeError('below-window', `older than the last ${WINDOW} packets of its sender`);
}

function decrypt(packet: Uint8Array, keys: readonly Uint8Array[]): Uint8Array {
  if (packet.length < ENVELOPE_HEADER_BYTES + ENCRYPTION_OVERHEAD)
    throw new EnvelopeError('truncated', 'encrypted packet too short');
  const header = packet.subarray(0, ENVELOPE_HEADER_BYTES);
  const nonce = packet.subarray(ENVELOPE_HEADER_BYTES, ENVELOPE_HEADER_BYTES + AES_GCM_NONCE_BYTES);
  const tag = packet.subarray(packet.length - AES_GCM_TAG_BYTES);
  const ciphertext = packet.subarray(ENVELOPE_HEADER_BYTES + AES_GCM_NONCE_BYTES, packet.length - AES_GCM_TAG_BYTES);
  for (const key of keys) {
    try {
      const decipher = createDecipheriv(cipherName(key), key, nonce);
      decipher.setAAD(header);
      decipher.setAuthTag(tag);
      const out = decipher.update(ciphertext);
      const final = decipher.final();
      return final.length === 0 ? out : concat([out, final]);
    } catch {
      // Wrong key or tampered packet: try the next key of the ring.
    }
  }
  throw new EnvelopeError('decrypt-failed', `no key of the ring (${keys.length}) authenticates this packet`);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

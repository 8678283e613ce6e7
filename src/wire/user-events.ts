/**
 * User events on the wire (protocol 6): the events themselves (type 7) and the digest of the events
 * a node holds (type 8), by which two members find and repair what one of them missed.
 * docs/protocol.md ("User events") gives the byte layout. These are not membership messages: the
 * core never sees them (runtime/user-events.ts and core/user-events.ts handle them).
 */
import { EVENT_DIGEST_CODE, USER_EVENTS_CODE } from './codes.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { stringSize, utf8Length, varintSize } from './varint.js';
import { Writer } from './writer.js';
import { InternalError, InvalidArgumentError } from '../errors.js';

export { EVENT_DIGEST_CODE, USER_EVENTS_CODE };
/** Event flag: deliver only the newest of a same-name burst (serf's coalescing). */
export const EVENT_COALESCE = 1;
/** Digest flag: an answer to a digest; it is answered with events only, never with another digest. */
export const DIGEST_REPLY = 1;
/** Digest flag: every origin the sender holds events of is listed (an unlisted origin: it holds none). */
export const DIGEST_ALL_ORIGINS = 2;
/**
 * Longest event name in UTF-8 bytes: serf's names are short words ("deploy"), and a bound lets a
 * receiver refuse a lying length before it reads.
 */
export const MAX_EVENT_NAME_BYTES = 128;

/** One user event as it travels: who broadcast it (id and incarnation), when (Lamport time), what. */
export interface WireUserEvent {
  readonly origin: string;
  /** The origin's generation: a restarted origin's clock may start again, its (origin, ltime) pairs must not clash. */
  readonly generation: number;
  readonly ltime: number;
  /**
   * How long ago the origin broadcast it, in EVENT_AGE_UNIT_MS units, as the sender reckons it
   * (its own age when it received it, plus how long it held it): every member stops holding an
   * event at the same age, so no member can pass it on to one that already forgot it.
   */
  readonly age: number;
  readonly name: string;
  readonly payload: Uint8Array;
  readonly coalesce: boolean;
}

/** Event ages travel in units of 100 ms: two varint bytes cover 27 minutes, past any horizon worth holding. */
export const EVENT_AGE_UNIT_MS = 100;

export interface UserEventsMessage {
  readonly type: 'userEvents';
  readonly clusterId: string;
  readonly events: readonly WireUserEvent[];
}

/**
 * The Lamport times of one origin's events that the sender holds: exactly `ltimes` among the times
 * at or above `from` (0: all of them). A digest cut to fit a packet lists an origin's newest times only.
 */
export interface DigestGroup {
  readonly origin: string;
  readonly generation: number;
  readonly from: number;
  /** Strictly ascending. */
  readonly ltimes: readonly number[];
}

export interface EventDigestMessage {
  readonly type: 'eventDigest';
  readonly clusterId: string;
  readonly reply: boolean;
  /** Every origin the sender holds events of is in `groups`. */
  readonly allOrigins: boolean;
  readonly groups: readonly DigestGroup[];
}

export type UserEventMessage = UserEventsMessage | EventDigestMessage;

export function isUserEventMessage(m: { readonly type: string }): m is UserEventMessage {
  return m.type === 'userEvents' || m.type === 'eventDigest';
}

/** Bytes of one event in a userEvents message. */
export function wireEventSize(e: WireUserEvent): number {
  return (
    1 +
    stringSize(e.origin) +
    varintSize(e.generation) +
    varintSize(e.ltime) +
    varintSize(e.age) +
    stringSize(e.name) +
    varintSize(e.payload.length) +
    e.payload.length
  );
}

/** Bytes of a userEvents message with no events, and the count's varint for `count` of them. */
export function userEventsHeaderSize(clusterId: string, count: number): number {
  return 1 + stringSize(clusterId) + varintSize(count);
}

/** Bytes of one digest group. */
export function digestGroupSize(g: DigestGroup): number {
  let n = stringSize(g.origin) + varintSize(g.generation) + varintSize(g.from) + varintSize(g.ltimes.length);
  let prev = -1;
  for (const t of g.ltimes) {
    n += varintSize(prev < 0 ? t : t - prev - 1);
    prev = t;
  }
  return n;
}

export function eventDigestHeaderSize(clusterId: string, groups: number): number {
  return 1 + stringSize(clusterId) + 1 + varintSize(groups);
}

export function userEventMessageSize(m: UserEventMessage): number {
  if (m.type === 'userEvents') {
    let n = userEventsHeaderSize(m.clusterId, m.events.length);
    for (const e of m.events) n += wireEventSize(e);
    return n;
  }
  let n = eventDigestHeaderSize(m.clusterId, m.groups.length);
  for (const g of m.groups) n += digestGroupSize(g);
  return n;
}

export function encodeUserEventMessage(m: UserEventMessage): Uint8Array {
  const w = new Writer(userEventMessageSize(m));
  if (m.type === 'userEvents') {
    w.u8(USER_EVENTS_CODE);
    w.string(m.clusterId);
    w.varint(m.events.length);
    for (const e of m.events) {
      if (utf8Length(e.name) > MAX_EVENT_NAME_BYTES)
        throw new InvalidArgumentError(`an event name is at most ${MAX_EVENT_NAME_BYTES} bytes`);
      w.u8(e.coalesce ? EVENT_COALESCE : 0);
      w.string(e.origin);
      w.varint(e.generation);
      w.varint(e.ltime);
      w.varint(e.age);
      w.string(e.name);
      w.varint(e.payload.length);
      w.raw(e.payload);
    }
  } else {
    w.u8(EVENT_DIGEST_CODE);
    w.string(m.clusterId);
    w.u8((m.reply ? DIGEST_REPLY : 0) | (m.allOrigins ? DIGEST_ALL_ORIGINS : 0));
    w.varint(m.groups.length);
    for (const g of m.groups) {
      w.string(g.origin);
      w.varint(g.generation);
      w.varint(g.from);
      w.varint(g.ltimes.length);
      let prev = -1;
      for (const t of g.ltimes) {
        if (t <= prev || t < g.from) throw new InvalidArgumentError('digest times must ascend from `from`');
        // Times ascend: the gap to the previous one is small (a burst is consecutive: gaps of 0).
        w.varint(prev < 0 ? t : t - prev - 1);
        prev = t;
      }
    }
  }
  if (w.offset !== w.bytes.length)
    throw new InternalError(`codec size mismatch: wrote ${w.offset}, sized ${w.bytes.length}`);
  return w.bytes;
}

/** Smallest encodings: an event (flags, five one-byte fields, an empty string each), a group, a listed time. */
const MIN_EVENT = 7;
const MIN_GROUP = 4;
const MIN_TIME = 1;

/** Decodes a type 7 or 8 body (code byte included); throws only DecodeError. */
export function decodeUserEventMessage(body: Uint8Array): UserEventMessage {
  const r = new Reader(body);
  const code = r.u8('message type');
  let m: UserEventMessage;
  if (code === USER_EVENTS_CODE) {
    const clusterId = r.string('cluster id');
    const n = r.count('user events', MIN_EVENT);
    const events: WireUserEvent[] = [];
    for (let i = 0; i < n; i++) {
      const flags = r.u8('event flags');
      if (flags > EVENT_COALESCE) throw new DecodeError('bad-value', `event flags ${flags}`);
      const origin = r.string('event origin');
      const generation = r.varint('event generation');
      const ltime = r.varint('event time');
      const age = r.varint('event age');
      const name = r.string('event name');
      if (utf8Length(name) > MAX_EVENT_NAME_BYTES)
        throw new DecodeError('too-large', `an event name of ${utf8Length(name)} bytes`);
      const length = r.varint('event payload length');
      const payload = r.raw(length, 'event payload');
      events.push({ origin, generation, ltime, age, name, payload, coalesce: flags === EVENT_COALESCE });
    }
    m = { type: 'userEvents', clusterId, events };
  } else if (code === EVENT_DIGEST_CODE) {
    const clusterId = r.string('cluster id');
    const flags = r.u8('digest flags');
    if (flags > (DIGEST_REPLY | DIGEST_ALL_ORIGINS)) throw new DecodeError('bad-value', `event digest flags ${flags}`);
    const n = r.count('digest groups', MIN_GROUP);
    const groups: DigestGroup[] = [];
    for (let i = 0; i < n; i++) {
      const origin = r.string('digest origin');
      const generation = r.varint('digest generation');
      const from = r.varint('digest from');
      const k = r.count('digest times', MIN_TIME);
      const ltimes: number[] = [];
      let prev = -1;
      for (let j = 0; j < k; j++) {
        const gap = r.varint('digest time');
        const t = prev < 0 ? gap : prev + 1 + gap;
        if (t > Number.MAX_SAFE_INTEGER || t < from) throw new DecodeError('bad-value', `digest time ${t}`);
        ltimes.push(t);
        prev = t;
      }
      groups.push({ origin, generation, from, ltimes });
    }
    m = {
      type: 'eventDigest',
      clusterId,
      reply: (flags & DIGEST_REPLY) !== 0,
      allOrigins: (flags & DIGEST_ALL_ORIGINS) !== 0,
      groups,
    };
  } else {
    throw new DecodeError('bad-type', `unknown message type ${code}`);
  }
  if (r.remaining !== 0) throw new DecodeError('trailing-bytes', `${r.remaining} bytes after the message`);
  return m;
}

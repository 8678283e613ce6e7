/**
 * The codec of protocol 6's query messages (type codes 9, 10, 11), beside the gossip codec: sizes,
 * encoder and bounds-checked decoder. docs/protocol.md ("Queries") gives the layouts byte by byte.
 */
import { ACK_RESPONDS, ANSWER_RELAY, QUERY_ACK, RESPONSE_ERROR, TYPE_CODES } from './codes.js';
import { DecodeError } from './errors.js';
import { carriesQueries, isSupportedVersion, PROTOCOL_VERSION, type ProtocolVersion } from './protocol.js';
import {
  MAX_QUERY_NAME_BYTES,
  MAX_QUERY_TAGS,
  MAX_QUERY_TIMEOUT_MS,
  MAX_RELAY_FACTOR,
  type QueryAckMessage,
  type QueryMessage,
  type QueryResponseMessage,
  type QueryWireMessage,
} from './query-messages.js';
import { Reader } from './reader.js';
import { stringSize, utf8Length, varintSize } from './varint.js';
import { Writer } from './writer.js';
import { InternalError, InvalidArgumentError } from '../errors.js';

// ignoreBOM: a leading U+FEFF is part of the string (see reader.ts).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether a body's first byte (its type code) is a query message's. */
export function isQueryCode(code: number | undefined): boolean {
  return code === TYPE_CODES.query || code === TYPE_CODES.queryAck || code === TYPE_CODES.queryResponse;
}

/** Whether a decoded message is a query message (else it is the core's). */
export function isQueryMessage<M extends { readonly type: string }>(m: M | QueryWireMessage): m is QueryWireMessage {
  return m.type === 'query' || m.type === 'queryAck' || m.type === 'queryResponse';
}

/** A query's tags in their wire order: by key, ascending (so a filter has one encoding). */
function sortedTags(tags: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

const bytesSize = (b: Uint8Array): number => varintSize(b.length) + b.length;

/** The exact encoded size of a query message. */
export function queryMessageSize(m: QueryWireMessage): number {
  if (m.type === 'query') {
    let n = 1 + stringSize(m.clusterId) + stringSize(m.origin) + varintSize(m.generation) + varintSize(m.ltime);
    n += 1 + varintSize(m.timeoutMs) + 1;
    const tags = sortedTags(m.tags);
    n += varintSize(tags.length);
    for (const [k, v] of tags) n += stringSize(k) + stringSize(v);
    return n + stringSize(m.name) + bytesSize(m.payload);
  }
  const n = 1 + stringSize(m.clusterId) + stringSize(m.origin) + varintSize(m.ltime) + stringSize(m.from) + 1;
  return m.type === 'queryAck' ? n : n + bytesSize(m.payload);
}

function checkVersion(version: ProtocolVersion): void {
  if (!isSupportedVersion(version) || !carriesQueries(version))
    throw new InvalidArgumentError(`protocol ${String(version)} has no queries (protocol 6 on)`);
}

function checkQuery(m: QueryMessage): void {
  const nameBytes = utf8Length(m.name);
  if (nameBytes === 0 || nameBytes > MAX_QUERY_NAME_BYTES)
    throw new InvalidArgumentError(`a query name is 1..${MAX_QUERY_NAME_BYTES} UTF-8 bytes (got ${nameBytes})`);
  if (!Number.isInteger(m.timeoutMs) || m.timeoutMs < 1 || m.timeoutMs > MAX_QUERY_TIMEOUT_MS)
    throw new InvalidArgumentError(`a query timeout is 1..${MAX_QUERY_TIMEOUT_MS} ms (got ${m.timeoutMs})`);
  if (!Number.isInteger(m.relayFactor) || m.relayFactor < 0 || m.relayFactor > MAX_RELAY_FACTOR)
    throw new InvalidArgumentError(`a relay factor is 0..${MAX_RELAY_FACTOR} (got ${m.relayFactor})`);
  if (Object.keys(m.tags).length > MAX_QUERY_TAGS)
    throw new InvalidArgumentError(`a query filter names at most ${MAX_QUERY_TAGS} tags`);
}

/** Encodes a query message body (no envelope) in `version`, which must carry queries (6 on). */
export function encodeQueryMessage(m: QueryWireMessage, version: ProtocolVersion = PROTOCOL_VERSION): Uint8Array {
  checkVersion(version);
  if (m.type === 'query') checkQuery(m);
  const w = new Writer(queryMessageSize(m));
  w.u8(TYPE_CODES[m.type]);
  w.string(m.clusterId);
  w.string(m.origin);
  if (m.type === 'query') {
    w.varint(m.generation);
    w.varint(m.ltime);
    w.u8(m.ack ? QUERY_ACK : 0);
    w.varint(m.timeoutMs);
    w.u8(m.relayFactor);
    const tags = sortedTags(m.tags);
    w.varint(tags.length);
    for (const [k, v] of tags) {
      w.string(k);
      w.string(v);
    }
    w.string(m.name);
    w.varint(m.payload.length);
    w.raw(m.payload);
  } else {
    w.varint(m.ltime);
    w.string(m.from);
    const error = m.type === 'queryResponse' && m.error;
    const responds = m.type === 'queryAck' && m.responds;
    w.u8((m.relay ? ANSWER_RELAY : 0) | (error ? RESPONSE_ERROR : 0) | (responds ? ACK_RESPONDS : 0));
    if (m.type === 'queryResponse') {
      w.varint(m.payload.length);
      w.raw(m.payload);
    }
  }
  if (w.offset !== w.bytes.length)
    throw new InternalError(`query codec size mismatch: wrote ${w.offset}, sized ${w.bytes.length}`);
  return w.bytes;
}

function readBytes(r: Reader, what: string): Uint8Array {
  const n = r.varint(`${what} length`);
  if (n > r.remaining) throw new DecodeError('truncated', `${what}: length ${n} exceeds the ${r.remaining} bytes left`);
  return r.raw(n, what);
}

function readQuery(r: Reader, clusterId: string, origin: string): QueryMessage {
  const generation = r.varint('query generation');
  const ltime = r.varint('query ltime');
  const flags = r.u8('query flags');
  if (flags > QUERY_ACK) throw new DecodeError('bad-value', `query flags ${flags}`);
  const timeoutMs = r.varint('query timeout');
  if (timeoutMs < 1 || timeoutMs > MAX_QUERY_TIMEOUT_MS)
    throw new DecodeError('bad-value', `query timeout ${timeoutMs} ms (1..${MAX_QUERY_TIMEOUT_MS})`);
  const relayFactor = r.u8('query relay factor');
  if (relayFactor > MAX_RELAY_FACTOR)
    throw new DecodeError('bad-value', `relay factor ${relayFactor} (at most ${MAX_RELAY_FACTOR})`);
  // Each tag is two strings, at least one length byte each.
  const count = r.count('query tags', 2);
  if (count > MAX_QUERY_TAGS) throw new DecodeError('too-large', `${count} query tags (at most ${MAX_QUERY_TAGS})`);
  const tags: Record<string, string> = {};
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    const key = r.string('tag key');
    // Ascending and distinct: one encoding per filter, and no key given twice with two values.
    if (previous !== undefined && !(previous < key))
      throw new DecodeError('bad-value', 'query tags out of order or repeated');
    previous = key;
    // Defined, not assigned: a key "__proto__" must be a tag like any other, not the object's prototype.
    Object.defineProperty(tags, key, { value: r.string('tag value'), enumerable: true, writable: false });
  }
  const name = r.string('query name');
  const nameBytes = utf8Length(name);
  if (nameBytes === 0 || nameBytes > MAX_QUERY_NAME_BYTES)
    throw new DecodeError('bad-value', `query name of ${nameBytes} bytes (1..${MAX_QUERY_NAME_BYTES})`);
  const payload = readBytes(r, 'query payload');
  return {
    type: 'query',
    clusterId,
    origin,
    generation,
    ltime,
    ack: flags === QUERY_ACK,
    timeoutMs,
    relayFactor,
    tags,
    name,
    payload,
  };
}

function readAnswer(
  r: Reader,
  code: number,
  clusterId: string,
  origin: string,
): QueryAckMessage | QueryResponseMessage {
  const ltime = r.varint('answer ltime');
  const from = r.string('answer responder');
  const flags = r.u8('answer flags');
  const most = code === TYPE_CODES.queryAck ? ANSWER_RELAY | ACK_RESPONDS : ANSWER_RELAY | RESPONSE_ERROR;
  if (flags > most) throw new DecodeError('bad-value', `answer flags ${flags}`);
  const relay = (flags & ANSWER_RELAY) !== 0;
  if (code === TYPE_CODES.queryAck)
    return { type: 'queryAck', clusterId, origin, ltime, from, relay, responds: (flags & ACK_RESPONDS) !== 0 };
  const error = (flags & RESPONSE_ERROR) !== 0;
  const payload = readBytes(r, 'response payload');
  if (error) {
    try {
      utf8.decode(payload);
    } catch {
      throw new DecodeError('bad-utf8', 'an error response: not valid UTF-8');
    }
  }
  return { type: 'queryResponse', clusterId, origin, ltime, from, relay, error, payload };
}

/**
 * Decodes a query message body of protocol `version`; throws only DecodeError, for a version without
 * queries too (a peer that wrote one in protocol 5 lies about its version).
 */
export function decodeQueryMessage(body: Uint8Array, version: ProtocolVersion = PROTOCOL_VERSION): QueryWireMessage {
  if (!isSupportedVersion(version) || !carriesQueries(version))
    throw new DecodeError('bad-type', `protocol ${String(version)} has no queries`);
  const r = new Reader(body);
  const code = r.u8('message type');
  if (!isQueryCode(code)) throw new DecodeError('bad-type', `message type ${code} is no query message`);
  const clusterId = r.string('cluster id');
  const origin = r.string('query origin');
  const m = code === TYPE_CODES.query ? readQuery(r, clusterId, origin) : readAnswer(r, code, clusterId, origin);
  if (r.remaining !== 0) throw new DecodeError('trailing-bytes', `${r.remaining} bytes after the message`);
  return m;
}

/**
 * The HTTP API's routes for what is built on the membership: POST /event (a user event), POST /query
 * (answers streamed as NDJSON, or as Server-Sent Events when asked for) and GET /ring (each member's
 * share of the hash ring). A body is checked field by field before the node sees it: each refusal is
 * a 400 that names the field and says what it takes. The library's own refusals keep their message
 * (a name too long, a payload too large: 400; the rate limit: 429).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ScuttlebuttError } from '../errors.js';
import type { QueryOptions, QueryRequest, QueryResponses, UserEvent, UserEventSent } from '../runtime/api.js';
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';
import { DEFAULT_REPLICAS, MAX_REPLICAS, type HashRing, type RingOptions } from '../ring/index.js';
import { HttpError, quote, readJson } from './http-request.js';
import type { EventLog } from './event-log.js';

/** What these routes need of a node (a Scuttlebutt has it all). */
export interface EventsNode {
  broadcast(name: string, payload?: string | Uint8Array, options?: { coalesce?: boolean }): UserEventSent;
  query(name: string, payload?: string | Uint8Array, options?: QueryOptions): QueryResponses;
  ring(options?: RingOptions): HashRing;
}

/** The longest a query may be asked to run over the API: its stream holds a connection that long. */
export const MAX_QUERY_TIMEOUT_MS = 600_000;
/** Most member ids one query may name. */
const MAX_IDS = 1024;

type Body = Record<string, unknown>;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as the API writes them: `payload` when they are UTF-8 text, `payloadBase64` otherwise. */
export function payloadFields(bytes: Uint8Array): { payload: string } | { payloadBase64: string } {
  try {
    return { payload: utf8.decode(bytes) };
  } catch {
    return { payloadBase64: Buffer.from(bytes).toString('base64') };
  }
}

function refuseUnknown(body: Body, route: string, known: readonly string[]): void {
  for (const k of Object.keys(body))
    if (!known.includes(k))
      throw new HttpError(400, `unknown field ${quote(k)} in the ${route} body (it takes ${known.join(', ')})`);
}

function nameField(body: Body, route: string): string {
  if (typeof body.name === 'string' && body.name !== '') return body.name;
  const got = body.name === undefined ? 'none' : quote(JSON.stringify(body.name));
  throw new HttpError(400, `the ${route} body needs "name", a non-empty string (got ${got})`);
}

/** The payload of a body: "payload" (UTF-8 text) or "payloadBase64" (bytes), not both; none is empty. */
function payloadField(body: Body, route: string): string | Uint8Array | undefined {
  const { payload, payloadBase64 } = body;
  if (payload !== undefined && payloadBase64 !== undefined)
    throw new HttpError(400, `the ${route} body takes "payload" (text) or "payloadBase64" (bytes), not both`);
  if (payload !== undefined) {
    if (typeof payload !== 'string')
      throw new HttpError(400, `"payload" must be a string (UTF-8 text; send bytes as "payloadBase64")`);
    return payload;
  }
  if (payloadBase64 === undefined) return undefined;
  if (
    typeof payloadBase64 !== 'string' ||
    payloadBase64.length % 4 !== 0 ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(payloadBase64)
  )
    throw new HttpError(400, '"payloadBase64" must be a base64 string (A-Z, a-z, 0-9, + and /, padded with =)');
  return new Uint8Array(Buffer.from(payloadBase64, 'base64'));
}

function booleanField(body: Body, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean')
    throw new HttpError(400, `"${field}" must be true or false (got ${quote(JSON.stringify(v))})`);
  return v;
}

function intField(body: Body, field: string, min: number, max: number): number | undefined {
  const v = body[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new HttpError(400, `"${field}" must be an integer from ${min} to ${max} (got ${quote(JSON.stringify(v))})`);
  return v;
}

const EVENT_FIELDS = ['name', 'payload', 'payloadBase64', 'coalesce'] as const;

/** POST /event's body: `{ "name", "payload"? | "payloadBase64"?, "coalesce"? }`. */
export function parseEventBody(body: Body): {
  name: string;
  payload: string | Uint8Array | undefined;
  coalesce: boolean | undefined;
} {
  refuseUnknown(body, 'POST /event', EVENT_FIELDS);
  return {
    name: nameField(body, 'POST /event'),
    payload: payloadField(body, 'POST /event'),
    coalesce: booleanField(body, 'coalesce'),
  };
}

const QUERY_FIELDS = ['name', 'payload', 'payloadBase64', 'tags', 'ids', 'timeoutMs', 'ack', 'relayFactor'] as const;

/** POST /query's body: `{ "name", "payload"?, "tags"?, "ids"?, "timeoutMs"?, "ack"?, "relayFactor"? }`. */
export function parseQueryBody(body: Body): {
  name: string;
  payload: string | Uint8Array | undefined;
  options: QueryOptions;
} {
  refuseUnknown(body, 'POST /query', QUERY_FIELDS);
  const name = nameField(body, 'POST /query');
  const payload = payloadField(body, 'POST /query');
  const { tags, ids } = body;
  let filterTags: Record<string, string> | undefined;
  if (tags !== undefined) {
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags))
      throw new HttpError(400, '"tags" must be an object of strings, {"KEY": "VALUE", ...}: members must match all');
    // No prototype: a tag named __proto__ is a tag like any other.
    filterTags = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(tags as Body)) {
      if (typeof v !== 'string')
        throw new HttpError(
          400,
          `"tags" must map each key to a string (key ${quote(k)} has ${quote(JSON.stringify(v))})`,
        );
      if (k === '') throw new HttpError(400, '"tags" has an empty key');
      filterTags[k] = v;
    }
  }
  if (
    ids !== undefined &&
    (!Array.isArray(ids) || ids.length > MAX_IDS || !ids.every((id) => typeof id === 'string' && id !== ''))
  )
    throw new HttpError(400, `"ids" must be an array of member ids (non-empty strings), at most ${MAX_IDS}`);
  const timeoutMs = intField(body, 'timeoutMs', 1, MAX_QUERY_TIMEOUT_MS);
  const ack = booleanField(body, 'ack');
  const relayFactor = intField(body, 'relayFactor', 0, 8);
  const filter = {
    ...(filterTags ? { tags: filterTags } : {}),
    ...(ids !== undefined ? { ids: ids as string[] } : {}),
  };
  return {
    name,
    payload,
    options: {
      ...(filterTags || ids !== undefined ? { filter } : {}),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(ack === undefined ? {} : { ack }),
      ...(relayFactor === undefined ? {} : { relayFactor }),
    },
  };
}

/** GET /ring's query: `replicas=N` and `tag=KEY=VALUE` (repeatable, all must match). */
export function parseRingQuery(query: URLSearchParams): {
  replicas?: number;
  filter?: { tags: Record<string, string> };
} {
  const tags = Object.create(null) as Record<string, string>;
  let replicas: number | undefined;
  let tagged = false;
  for (const [name, value] of query) {
    if (name === 'replicas') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < 1 || n > MAX_REPLICAS)
        throw new HttpError(
          400,
          `query parameter "replicas" must be an integer from 1 to ${MAX_REPLICAS} (got ${quote(value)})`,
        );
      replicas = n;
    } else if (name === 'tag') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new HttpError(400, `query parameter "tag" must be KEY=VALUE (got ${quote(value)})`);
      tags[value.slice(0, eq)] = value.slice(eq + 1);
      tagged = true;
    } else {
      throw new HttpError(
        400,
        `unknown query parameter ${quote(name)} (GET /ring takes replicas=N and tag=KEY=VALUE, repeatable)`,
      );
    }
  }
  return { ...(replicas === undefined ? {} : { replicas }), ...(tagged ? { filter: { tags } } : {}) };
}

/**
 * The library's refusal of an event or a query, as the HTTP error to answer: a bad name, a payload
 * too large or an option out of range is the client's to fix (400), the rate limit is 429, a node
 * shutting down 503.
 */
function refusal(err: unknown): unknown {
  if (!(err instanceof ScuttlebuttError)) return err;
  const code = err.code;
  if (code === 'SB_ERR_INVALID_ARG' || code === 'SB_ERR_CLOSED')
    return new HttpError(code === 'SB_ERR_CLOSED' ? 503 : 400, err.message);
  if (code !== 'SB_ERR_USER_EVENT' && code !== 'SB_ERR_QUERY') return err;
  const reason = (err as ScuttlebuttError & { reason?: string }).reason;
  if (reason === 'rate-limited') return new HttpError(429, `rate limited: ${err.message}; retry in a moment`);
  return new HttpError(reason === 'closed' ? 503 : 400, err.message);
}

/** POST /event: broadcasts, answers `{ "ok", "name", "ltime" }`. */
export async function postEvent(
  node: EventsNode,
  req: IncomingMessage,
): Promise<{ ok: true; name: string; ltime: number }> {
  const { name, payload, coalesce } = parseEventBody(await readJson(req));
  try {
    const sent = node.broadcast(name, payload, coalesce === undefined ? {} : { coalesce });
    return { ok: true, name: sent.name, ltime: sent.ltime };
  } catch (err) {
    throw refusal(err);
  }
}

/** Whether a request asks for Server-Sent Events rather than the default NDJSON. */
const wantsSse = (req: IncomingMessage): boolean => /\btext\/event-stream\b/i.test(req.headers.accept ?? '');

/**
 * POST /query: asks, then streams each answer as it arrives and the summary last. The query is
 * aborted when the client goes away, so a closed connection does not hold it to its timeout.
 */
export async function postQuery(node: EventsNode, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { name, payload, options } = parseQueryBody(await readJson(req));
  const abort = new AbortController();
  let answers: QueryResponses;
  try {
    answers = node.query(name, payload, { ...options, signal: abort.signal });
  } catch (err) {
    throw refusal(err);
  }
  const sse = wantsSse(req);
  res.writeHead(200, {
    'content-type': sse ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store, no-transform',
    'x-content-type-options': 'nosniff',
    'x-accel-buffering': 'no',
  });
  const stop = (): void => abort.abort();
  res.on('close', stop);
  const write = (kind: string, fields: Record<string, unknown>): void => {
    const line = JSON.stringify({ kind, ...fields });
    res.write(sse ? `event: ${kind}\ndata: ${line}\n\n` : `${line}\n`);
  };
  try {
    for await (const a of answers) {
      const latencyMs = Math.round(a.latencyMs * 10) / 10;
      if (a.kind === 'response') write('response', { from: a.from, latencyMs, ...payloadFields(a.payload) });
      else if (a.kind === 'error') write('error', { from: a.from, latencyMs, message: a.message });
      else write('ack', { from: a.from, latencyMs });
    }
    const s = await answers.summary;
    write('summary', {
      asked: s.asked,
      notAsked: s.notAsked,
      acks: s.acks,
      responses: s.responses,
      errors: s.errors,
      elapsedMs: Math.round(s.elapsedMs),
    });
  } finally {
    res.off('close', stop);
    res.end();
  }
}

/** GET /ring: the members of the ring (live ones, filtered by tag) and each one's share of the key space. */
export function getRing(
  node: EventsNode,
  query: URLSearchParams,
): { replicas: number; members: readonly string[]; shares: Record<string, number> } {
  const { replicas, filter } = parseRingQuery(query);
  let ring: HashRing;
  try {
    ring = node.ring({ ...(filter ? { filter } : {}), ...(replicas === undefined ? {} : { replicas }) });
  } catch (err) {
    throw err instanceof RangeError ? new HttpError(400, err.message) : refusal(err);
  }
  try {
    const shares = Object.create(null) as Record<string, number>;
    for (const [id, share] of ring.shares()) shares[id] = share;
    return { replicas: replicas ?? DEFAULT_REPLICAS, members: [...ring.members], shares };
  } finally {
    ring.close();
  }
}

/**
 * Puts the user events this node delivers and the queries it receives on the /events stream (and in
 * its resume buffer); returns the function that stops.
 */
export function followUserEvents(node: Scuttlebutt, log: EventLog): () => void {
  const onUser = (e: UserEvent): void =>
    log.addOther('user', {
      name: e.name,
      ...payloadFields(e.payload),
      ltime: e.ltime,
      origin: e.origin,
      coalesce: e.coalesce,
    });
  // The query's own id is "queryId": "id" is the stream's event id.
  const onQuery = (q: QueryRequest): void =>
    log.addOther('query', {
      name: q.name,
      ...payloadFields(q.payload),
      ltime: q.ltime,
      origin: q.origin,
      queryId: q.id,
    });
  node.on('user', onUser);
  node.on('query', onQuery);
  return () => {
    node.off('user', onUser);
    node.off('query', onQuery);
  };
}

/**
 * What the agent's HTTP API takes from a request, checked before anything acts on it: the body (bounded, JSON),
 * the query of GET /members, and the Origin of a browser request. Each refusal is an HttpError with its status.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { ScuttlebuttError } from '../errors.js';

/** The largest request body the API reads. */
export const MAX_BODY = 64 * 1024;
/** Past this much of a refused body, the connection is cut rather than drained. */
export const MAX_DRAIN = 8 * 1024 * 1024;

/** `SB_ERR_HTTP`: a request the API refuses; the handler answers it with `status` and the message as `{"error"}`. */
export class HttpError extends ScuttlebuttError {
  readonly code = 'SB_ERR_HTTP';
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Quotes a piece of the request for an error message, bounded. */
export const quote = (s: string): string => JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s);

export function parseMemberQuery(query: URLSearchParams): { status?: 'live' | 'dead'; tags: Record<string, string> } {
  // No prototype: a tag named __proto__ is a tag like any other.
  const tags = Object.create(null) as Record<string, string>;
  let status: 'live' | 'dead' | undefined;
  for (const [name, value] of query) {
    if (name === 'status') {
      if (value !== 'live' && value !== 'dead')
        throw new HttpError(400, `query parameter "status" must be live or dead (got ${quote(value)})`);
      if (status !== undefined && status !== value)
        throw new HttpError(400, 'query parameter "status" given twice with different values');
      status = value;
    } else if (name === 'tag') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new HttpError(400, `query parameter "tag" must be KEY=VALUE (got ${quote(value)})`);
      const key = value.slice(0, eq);
      if (key in tags && tags[key] !== value.slice(eq + 1))
        throw new HttpError(400, `query parameter "tag" gives key ${quote(key)} two values: no member can match`);
      tags[key] = value.slice(eq + 1);
    } else {
      throw new HttpError(
        400,
        `unknown query parameter ${quote(name)} (GET /members takes status=live|dead and tag=KEY=VALUE, repeatable)`,
      );
    }
  }
  return { ...(status ? { status } : {}), tags };
}

/** Reads a request body of at most MAX_BODY bytes, as UTF-8 text; 413 past that. */
export function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY)
    return Promise.reject(new HttpError(413, `request body of ${declared} bytes is over the ${MAX_BODY}-byte limit`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `request body is over the ${MAX_BODY}-byte limit`));
        chunks.length = 0;
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body must be JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpError(400, 'request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Host names a browser page may come from without being a DNS-rebinding attack on us. */
const localName = (host: string): boolean => {
  const h = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || isIP(h) !== 0;
};

/**
 * A browser request that changes state must come from this API's own page, reached by address
 * (not by a name that could be rebound to 127.0.0.1). Non-browser clients send no Origin.
 */
export function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = req.headers.host ?? '';
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    throw new HttpError(403, `refused: malformed Origin header ${quote(origin)}`);
  }
  if (originHost !== host || !localName(host)) {
    throw new HttpError(
      403,
      `refused: a browser request from ${quote(origin)} may not change this agent ` +
        "(use the CLI, or this API's own address)",
    );
  }
}

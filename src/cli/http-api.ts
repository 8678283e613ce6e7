/**
 * The agent's local HTTP API: JSON routes, probes, a Server-Sent Events stream of membership
 * events (and user events and queries), the dashboard and the Prometheus endpoint; user events,
 * queries and the ring's routes are in http-events.ts. Bound to loopback by default: it can change
 * this node's metadata and make it leave, so it is not for the network.
 *
 * Nothing a client sends may crash the agent: every request is parsed inside one guard, bodies
 * are bounded (413), and a socket that speaks broken HTTP gets a 400 from clientError.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';
import { ForceLeaveError } from '../runtime/api.js';
import { parseHostPort } from '../runtime/config.js';
import { selectMembers } from '../runtime/health.js';
import { METRICS_CONTENT_TYPE, prometheusText } from './metrics.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard.js';
import { carriesToken } from './http-token.js';
import { BindError, InvalidArgumentError } from '../errors.js';
import { SeedError } from '../runtime/discovery.js';
import { EventLog } from './event-log.js';
import { followUserEvents, getRing, postEvent, postQuery } from './http-events.js';
import {
  checkOrigin,
  HttpError,
  MAX_BODY,
  MAX_DRAIN,
  parseMemberQuery,
  quote,
  readBody,
  readJson,
} from './http-request.js';

export { HttpError, MAX_BODY };

export interface HttpApi {
  readonly address: string;
  close(): Promise<void>;
}

export interface HttpApiOptions {
  /** Events kept for Last-Event-ID resume (default 1000). */
  readonly eventBuffer?: number;
  /**
   * Bytes those events may hold (default 1 MiB; see event-log.ts for what counts): the oldest leave
   * first when either bound is reached.
   */
  readonly eventBufferBytes?: number;
  /** Interval of the SSE heartbeat comment that keeps proxies from closing an idle stream (default 15 s). */
  readonly sseHeartbeatMs?: number;
  /** Concurrent /events streams (default 64); more get 503. */
  readonly maxStreams?: number;
  /** Called once POST /leave has been answered and the node has left (the agent exits). */
  readonly onLeave?: () => void;
  /**
   * When set, every request that changes the agent must carry `Authorization: Bearer <writeToken>` (see http-token.ts).
   */
  readonly writeToken?: string;
}

/** What the /events resume buffer may hold by default: about 1,000 updates of a few keys each. */
export const DEFAULT_EVENT_BUFFER_BYTES = 1024 * 1024;
/** A stream whose client reads slower than this much backlog is cut; it resumes with Last-Event-ID. */
const MAX_STREAM_BACKLOG = 1024 * 1024;

/** Which methods each path takes: the rest get 405 with an Allow header. */
const ROUTES: Record<string, readonly string[]> = {
  health: ['GET', 'HEAD'],
  ready: ['GET', 'HEAD'],
  members: ['GET', 'HEAD'],
  stats: ['GET', 'HEAD'],
  metrics: ['GET', 'HEAD'],
  events: ['GET'],
  join: ['POST'],
  leave: ['POST'],
  'force-leave': ['POST'],
  event: ['POST'],
  query: ['POST'],
  ring: ['GET', 'HEAD'],
  ui: ['GET', 'HEAD'],
  '': ['GET', 'HEAD'],
};

export async function startHttpApi(node: Scuttlebutt, listen: string, options: HttpApiOptions = {}): Promise<HttpApi> {
  const { host, port } = parseHostPort(listen) as { host: string; port: number };
  const log = new EventLog(node.self.generation, {
    capacity: Math.max(1, options.eventBuffer ?? 1000),
    maxBytes: Math.max(1, options.eventBufferBytes ?? DEFAULT_EVENT_BUFFER_BYTES),
  });
  const heartbeatMs = options.sseHeartbeatMs ?? 15_000;
  const maxStreams = options.maxStreams ?? 64;
  const streams = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let left = false;

  const pump = node.events({ buffer: 100_000 });
  void (async () => {
    for await (const e of pump) log.add(e);
  })();
  // Events outside the membership stream (flow control's) reach the stream too.
  const onThrottled = (info: { rate: number; backlog: number }): void => log.addOther('throttled', info);
  const onUnthrottled = (info: { rate: number }): void => log.addOther('unthrottled', info);
  node.on('throttled', onThrottled);
  node.on('unthrottled', onUnthrottled);
  const unfollow = followUserEvents(node, log);

  /** A request that changes the agent: not from a foreign page, and with the write token when there is one. */
  const authorizeWrite = (req: IncomingMessage, what: string): void => {
    checkOrigin(req);
    const token = options.writeToken;
    if (token === undefined || carriesToken(req.headers.authorization, token)) return;
    const why = req.headers.authorization === undefined ? 'no Authorization header' : 'a wrong token';
    throw new HttpError(
      401,
      `${what} changes this agent and needs its write token (got ${why}): ` +
        "send Authorization: Bearer <the token in the agent's --http-token-file>, or give the CLI --http-token-file",
      { 'www-authenticate': 'Bearer realm="scuttlebutt"' },
    );
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return void res.end();
    const json = status !== 200 || typeof body !== 'string';
    const text = json ? `${JSON.stringify(body)}\n` : (body as string);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    });
    res.end(text);
  };

  const openStream = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void => {
    for (const name of query.keys()) {
      if (name !== 'lastEventId' && name !== 'since')
        throw new HttpError(
          400,
          `unknown query parameter ${quote(name)} (GET /events takes lastEventId=ID or since=start)`,
        );
    }
    const since = query.get('since');
    if (since !== null && since !== 'start')
      throw new HttpError(400, `query parameter "since" must be "start" (got ${quote(since)})`);
    if (streams.size >= maxStreams) throw new HttpError(503, `too many event streams open (${maxStreams}); close one`);
    const header = req.headers['last-event-id'];
    const lastId =
      (typeof header === 'string' && header.trim() !== '' ? header.trim() : null) ?? query.get('lastEventId') ?? since;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    streams.add(res);
    const write = (frame: string): void => {
      if (res.writableLength > MAX_STREAM_BACKLOG) return void res.destroy();
      res.write(frame);
    };
    write(`retry: 2000\n: scuttlebutt ${node.self.id} events; last id ${log.lastId}\n\n`);
    for (const frame of log.since(lastId)) write(frame);
    log.listeners.add(write);
    const beat = setInterval(() => write(`: heartbeat ${new Date().toISOString()}\n\n`), heartbeatMs);
    const end = (): void => {
      clearInterval(beat);
      log.listeners.delete(write);
      streams.delete(res);
    };
    res.on('close', end);
    res.on('error', end);
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    let raw = req.url ?? '/';
    if (!raw.startsWith('/')) {
      // Absolute form ("GET http://host/path"): allowed by HTTP/1.1, rarely sent.
      try {
        const u = new URL(raw);
        raw = `${u.pathname}${u.search}`;
      } catch {
        throw new HttpError(400, `request target must be a path (got ${quote(raw)})`);
      }
    }
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    let parts: string[];
    try {
      parts = rawPath.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new HttpError(400, `malformed percent-escape in path ${quote(rawPath)}`);
    }
    const name = parts.length <= 1 ? (parts[0] ?? '') : '';
    if (parts[0] === 'kv') return kv(req, res, method, parts);
    if (parts[0] === 'ui' && parts.length === 2 && (method === 'GET' || method === 'HEAD')) {
      if (parts[1] === 'app.js')
        return void send(res, 200, DASHBOARD_JS, { 'content-type': 'text/javascript; charset=utf-8' });
      if (parts[1] === 'style.css')
        return void send(res, 200, DASHBOARD_CSS, { 'content-type': 'text/css; charset=utf-8' });
    }
    const allowed = parts.length <= 1 ? ROUTES[name] : undefined;
    if (!allowed || !Object.hasOwn(ROUTES, name))
      throw new HttpError(404, `no route ${quote(rawPath)} (see docs/cli.md)`);
    if (!allowed.includes(method)) {
      return void send(
        res,
        405,
        { error: `${quote(method)} is not allowed on /${name}; use ${allowed.join(' or ')}` },
        { allow: allowed.join(', ') },
      );
    }
    if (method === 'POST') {
      authorizeWrite(req, `POST /${name}`);
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/json\s*(;|$)/i.test(type))
        throw new HttpError(
          415,
          `POST /${name} takes a JSON body: send content-type: application/json (got ${quote(type)})`,
        );
    } else if (name !== 'members' && name !== 'events' && name !== 'ring' && [...query.keys()].length > 0) {
      throw new HttpError(400, `/${name} takes no query parameters (got ${quote([...query.keys()][0] as string)})`);
    }
    switch (name) {
      case '':
        return void send(res, 302, { location: '/ui' }, { location: '/ui' });
      case 'ui':
        return void send(res, 200, DASHBOARD_HTML, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy':
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        });
      case 'health': {
        const h = node.health();
        return void send(res, h.alive ? 200 : 503, { status: h.alive ? 'ok' : 'failing', node: node.self.id, ...h });
      }
      case 'ready': {
        const h = node.health();
        return void send(res, h.ready ? 200 : 503, {
          status: h.ready ? 'ready' : 'not-ready',
          node: node.self.id,
          ...h,
        });
      }
      case 'members': {
        const filter = parseMemberQuery(query);
        // One snapshot for the whole answer: a dashboard may poll every member's agent many times a second.
        const state = node.state();
        const members = selectMembers(state, filter, (m) => m.metadata);
        return void send(res, 200, {
          self: state.self,
          live: members.filter((m) => m.status === 'live'),
          dead: members.filter((m) => m.status === 'dead'),
          seeds: state.seeds,
          phiThreshold: node.config.failureDetector.phiThreshold,
          lastEventId: log.lastId,
        });
      }
      case 'stats':
        return void send(res, 200, node.stats());
      case 'metrics':
        return void prometheusText(node).then(
          (text) => send(res, 200, text, { 'content-type': METRICS_CONTENT_TYPE }),
          (err: Error) => send(res, 500, { error: err.message }),
        );
      case 'events':
        return openStream(req, res, query);
      case 'ring':
        return void send(res, 200, getRing(node, query));
      case 'event':
        return void send(res, 200, await postEvent(node, req));
      case 'query':
        return postQuery(node, req, res);
      case 'join': {
        const body = await readJson(req);
        const seeds = body.seeds;
        if (
          !Array.isArray(seeds) ||
          seeds.length === 0 ||
          seeds.length > 256 ||
          !seeds.every((s) => typeof s === 'string')
        ) {
          throw new HttpError(400, 'body must be {"seeds": ["host:port", ...]}: 1 to 256 strings');
        }
        try {
          await node.join(seeds as string[]);
        } catch (err) {
          throw new HttpError(err instanceof SeedError ? 400 : 502, (err as Error).message);
        }
        return void send(res, 200, { ok: true, seeds: node.state().seeds });
      }
      case 'leave': {
        await readJson(req);
        if (left) return void send(res, 200, { ok: true, left: node.self.id });
        left = true;
        await node.leave();
        send(res, 200, { ok: true, left: node.self.id });
        if (options.onLeave) res.on('finish', options.onLeave);
        return;
      }
      case 'force-leave': {
        const body = await readJson(req);
        if (typeof body.node !== 'string' || body.node === '')
          throw new HttpError(400, 'body must be {"node": "NODE_ID"}');
        try {
          const member = node.forceLeave(body.node);
          return void send(res, 200, { ok: true, removed: member });
        } catch (err) {
          if (err instanceof ForceLeaveError) throw new HttpError(err.reason === 'not-found' ? 404 : 409, err.message);
          throw err;
        }
      }
    }
  };

  const kv = async (req: IncomingMessage, res: ServerResponse, method: string, parts: string[]): Promise<void> => {
    if (parts.length === 3) {
      if (method !== 'GET' && method !== 'HEAD')
        return void send(
          res,
          405,
          { error: `${quote(method)} is not allowed on /kv/NODE/KEY; use GET` },
          { allow: 'GET, HEAD' },
        );
      const state = node.state();
      const member = [...state.live, ...state.dead].find((m) => m.id === parts[1]);
      if (!member) throw new HttpError(404, `no member ${quote(parts[1] as string)}`);
      const value = Object.hasOwn(member.metadata, parts[2] as string)
        ? member.metadata[parts[2] as string]
        : undefined;
      if (value === undefined)
        throw new HttpError(404, `member ${quote(parts[1] as string)} has no key ${quote(parts[2] as string)}`);
      return void send(res, 200, { value });
    }
    if (parts.length === 2) {
      if (method !== 'PUT' && method !== 'DELETE')
        return void send(
          res,
          405,
          { error: `${quote(method)} is not allowed on /kv/KEY; use PUT or DELETE` },
          { allow: 'PUT, DELETE' },
        );
      authorizeWrite(req, `${method} /kv/KEY`);
      if (method === 'DELETE') {
        try {
          node.delete(parts[1] as string);
        } catch (err) {
          // A key the application may not touch (a reserved one): the request's fault, not the agent's.
          if (err instanceof InvalidArgumentError) throw new HttpError(400, err.message);
          throw err;
        }
        return void send(res, 200, { ok: true });
      }
      const value = await readBody(req);
      try {
        node.set(parts[1] as string, value);
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
      return void send(res, 200, { ok: true });
    }
    throw new HttpError(404, 'no route: /kv/NODE/KEY (GET) or /kv/KEY (PUT, DELETE)');
  };

  const server = createServer(
    { maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 10_000 },
    (req, res) => {
      req.on('error', () => res.destroy());
      res.on('error', () => req.destroy());
      route(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (res.headersSent) return void res.destroy();
        // The rest of a refused body is discarded as it arrives (bounded by requestTimeout), so a
        // client still uploading reads the 413 instead of a reset connection.
        send(
          res,
          status,
          { error: err instanceof Error ? err.message : String(err) },
          err instanceof HttpError ? err.headers : {},
        );
        if (status === 413) {
          let drained = 0;
          req.on('data', (c: Buffer) => {
            drained += c.length;
            if (drained > MAX_DRAIN) req.socket.destroy();
          });
        }
        req.resume();
      });
    },
  );
  server.maxConnections = 1024;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Broken HTTP (a bad request line, header or chunk): answer 400 if the socket still can, never throw.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new BindError(
          `cannot serve the HTTP API on ${listen}: ` +
            (err.code === 'EADDRINUSE' ? 'address already in use' : err.message),
          err,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  server.on('error', () => {});
  const addr = server.address();
  const address =
    addr && typeof addr === 'object'
      ? addr.family === 'IPv6'
        ? `[${addr.address}]:${addr.port}`
        : `${addr.address}:${addr.port}`
      : listen;
  return {
    address,
    close: () =>
      new Promise((r) => {
        void pump.return?.();
        node.off('throttled', onThrottled);
        node.off('unthrottled', onUnthrottled);
        unfollow();
        for (const s of streams) s.end();
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

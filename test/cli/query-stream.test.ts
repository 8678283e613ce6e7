import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postQuery, type EventsNode } from '../../src/cli/http-events.js';
import { HttpError } from '../../src/cli/http-request.js';

/**
 * POST /query's stream against a node whose answers come on a schedule: lines leave as answers arrive
 * (not at the end), as NDJSON or SSE, and a client that goes away aborts the query.
 */
function fakeNode(log: { signal?: AbortSignal; options?: unknown }): EventsNode {
  return {
    broadcast: () => ({ name: 'x', ltime: 1 }),
    ring: () => {
      throw new Error('not used');
    },
    query(name, _payload, options) {
      log.signal = options?.signal;
      log.options = options;
      const started = Date.now();
      let stopped = false;
      let finish: () => void = () => {};
      const ended = new Promise<void>((r) => (finish = r));
      options?.signal?.addEventListener('abort', () => {
        stopped = true;
        finish();
      });
      const answers = [
        { kind: 'ack' as const, from: 'a', latencyMs: 1.234 },
        { kind: 'response' as const, from: 'a', latencyMs: 2, payload: new TextEncoder().encode(`re ${name}`) },
        { kind: 'response' as const, from: 'b', latencyMs: 3, payload: new Uint8Array([0xff]) },
        { kind: 'error' as const, from: 'c', latencyMs: 4, message: 'handler failed' },
      ];
      const summary = ended.then(() => ({
        asked: 3,
        notAsked: 1,
        acks: 1,
        responses: 2,
        errors: 1,
        elapsedMs: Date.now() - started,
      }));
      return {
        summary,
        async *[Symbol.asyncIterator]() {
          for (const a of answers) {
            await new Promise((r) => setTimeout(r, 150));
            if (stopped) return;
            yield a;
          }
          const timeout = setTimeout(finish, 150);
          await ended;
          clearTimeout(timeout);
        },
      };
    },
  };
}

async function serve(node: EventsNode): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    postQuery(node, req, res).catch((err: unknown) => {
      res.writeHead(err instanceof HttpError ? err.status : 500).end(JSON.stringify({ error: String(err) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/query` };
}

const ask = (url: string, body: unknown, accept?: string): Promise<Response> =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
    body: JSON.stringify(body),
  });

test('POST /query streams NDJSON as answers arrive, then the summary; the options reach the node', async () => {
  const log: { signal?: AbortSignal; options?: unknown } = {};
  const { server, url } = await serve(fakeNode(log));
  try {
    const t0 = Date.now();
    const res = await ask(url, { name: 'uptime', tags: { role: 'web' }, timeoutMs: 900, ack: true });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    const lines: { at: number; line: Record<string, unknown> }[] = [];
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString('utf8');
      let end: number;
      while ((end = buf.indexOf('\n')) >= 0) {
        lines.push({ at: Date.now() - t0, line: JSON.parse(buf.slice(0, end)) as Record<string, unknown> });
        buf = buf.slice(end + 1);
      }
    }
    assert.deepEqual(
      lines.map((l) => l.line),
      [
        { kind: 'ack', from: 'a', latencyMs: 1.2 },
        { kind: 'response', from: 'a', latencyMs: 2, payload: 're uptime' },
        { kind: 'response', from: 'b', latencyMs: 3, payloadBase64: '/w==' },
        { kind: 'error', from: 'c', latencyMs: 4, message: 'handler failed' },
        {
          kind: 'summary',
          asked: 3,
          notAsked: 1,
          acks: 1,
          responses: 2,
          errors: 1,
          elapsedMs: lines.at(-1)?.line.elapsedMs,
        },
      ],
    );
    // The first answer left about 150 ms in, long before the summary (about 750 ms in).
    const first = lines[0]!.at;
    const last = lines.at(-1)!.at;
    assert.ok(last - first >= 400, `first line at ${first} ms, summary at ${last} ms: streamed, not buffered`);
    assert.ok(log.signal instanceof AbortSignal);
    assert.deepEqual(JSON.parse(JSON.stringify(log.options)), {
      filter: { tags: { role: 'web' } },
      timeoutMs: 900,
      ack: true,
      signal: {},
    });
  } finally {
    server.close();
  }
});

test('POST /query as Server-Sent Events when asked for; a client that leaves aborts the query', async () => {
  const log: { signal?: AbortSignal } = {};
  const { server, url } = await serve(fakeNode(log));
  try {
    const res = await ask(url, { name: 'uptime' }, 'text/event-stream');
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await res.text();
    const frames = text.split('\n\n').filter(Boolean);
    assert.deepEqual(
      frames.map((f) => f.split('\n')[0]),
      ['event: ack', 'event: response', 'event: response', 'event: error', 'event: summary'],
    );
    assert.match(frames[1]!, /^data: \{"kind":"response","from":"a","latencyMs":2,"payload":"re uptime"\}$/m);

    const abort = new AbortController();
    const cut = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'long' }),
      signal: abort.signal,
    });
    const reader = cut.body!.getReader();
    await reader.read(); // the first answer
    assert.equal(log.signal?.aborted, false);
    abort.abort();
    const deadline = Date.now() + 2_000;
    while (!log.signal?.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(log.signal?.aborted, true, 'the query was aborted when its client left');
  } finally {
    server.close();
  }
});

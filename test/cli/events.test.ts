import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EventStream, getJson, killAll, liveIds, MAIN, startAgent, waitFor, type Agent } from './agents.js';

const run = promisify(execFile);
type Ran = { code: number; stdout: string; stderr: string };
const cli = (args: string[]): Promise<Ran> =>
  run(process.execPath, [MAIN, ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: Ran) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const post = async (
  http: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; type: string | null }> => {
  const res = await fetch(`http://${http}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
};

/** The `Ack from "ID"` (or Response, Error) lines of a query's text output, by member. */
const from = (stdout: string, kind: string): string[] =>
  [...stdout.matchAll(new RegExp(`^${kind} from "([^"]+)"`, 'gm'))].map((m) => m[1] as string).sort();

/** The metric's value for one label set in a /metrics text (0 when absent). */
async function metric(http: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const m = new RegExp(`^${name}\\{${label}\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('user events and queries over five real agents: the CLI, /events, POST /query as NDJSON and SSE, /ring, /metrics', async () => {
  const agents: Agent[] = [];
  const streams: EventStream[] = [];
  const roles = ['db', 'web', 'db', 'web', 'web'];
  try {
    // The web members answer "uptime" with a handler script; e3 (db) has one that fails; e1 has none (it only acks).
    const handlers: Record<string, string> = {
      web: 'query:uptime=echo "up on $SCUTTLEBUTT_SELF_NAME"',
      db: 'query:uptime=echo broken >&2; exit 3',
    };
    for (let i = 0; i < 5; i++) {
      const seed = i === 0 ? [] : ['--join', (agents[0] as Agent).gossip];
      const handler = i === 0 ? [] : ['--event-handler', handlers[roles[i] as string] as string];
      agents.push(
        await startAgent(`e${i + 1}`, [...seed, ...handler, '--tag', `role=${roles[i]}`, '--tag', `idx=${i + 1}`]),
      );
    }
    for (const a of agents)
      await waitFor(async () => (await liveIds(a.http)).length === 5, 15_000, `${a.id} sees five`);
    const [e1, e2, e3] = agents as [Agent, Agent, Agent, Agent, Agent];
    const web = ['e2', 'e4', 'e5'];
    for (const a of agents) streams.push(new EventStream(a.http));
    for (const s of streams) assert.equal(await s.status, 200);

    const monitor = execFile(process.execPath, [MAIN, 'monitor', '--http', e3.http]);
    let monitored = '';
    monitor.stdout!.on('data', (c: Buffer) => (monitored += c.toString()));
    await new Promise((r) => setTimeout(r, 300));

    // An event from e1 reaches every agent's /events, once.
    const sent = await cli(['event', 'deploy', 'v42', '--http', e1.http]);
    assert.equal(sent.code, 0, sent.stderr);
    const ltime = Number(/^Event "deploy" sent \(Lamport time (\d+), coalescing on\)$/m.exec(sent.stdout)?.[1]);
    assert.ok(ltime >= 1, sent.stdout);
    const users = (s: EventStream) => s.events.filter((e) => e.event === 'user' && e.data.name === 'deploy');
    await waitFor(() => streams.every((s) => users(s).length >= 1), 10_000, 'every agent delivers the event');
    await new Promise((r) => setTimeout(r, 1_000)); // time for a duplicate to show, were there one
    for (const [i, s] of streams.entries()) {
      assert.equal(users(s).length, 1, `e${i + 1} delivered it once`);
      const d = users(s)[0]!.data;
      assert.deepEqual(
        { ...d, id: undefined, time: undefined },
        {
          name: 'deploy',
          payload: 'v42',
          ltime,
          origin: 'e1',
          coalesce: true,
          type: 'user',
          id: undefined,
          time: undefined,
        },
      );
    }
    // The resume buffer holds it: a client that reconnects from the id before it ("EPOCH-SEQ") gets it again.
    const userId = users(streams[1]!)[0]!.id!;
    const [epoch, seq] = userId.split('-') as [string, string];
    const resumed = new EventStream(e2.http, '/events', { 'last-event-id': `${epoch}-${Number(seq) - 1}` });
    streams.push(resumed);
    await waitFor(() => resumed.events.length >= 1, 3_000, 'the event replayed');
    assert.equal(resumed.events[0]!.id, userId);
    assert.deepEqual(resumed.events[0]!.data, users(streams[1]!)[0]!.data, 'the replayed frame is the one sent');
    await waitFor(
      () => /^\S+ {2}user {5}deploy from e1 \(Lamport time \d+\): v42$/m.test(monitored),
      3_000,
      `monitor prints the event: ${monitored}`,
    );
    monitor.kill();
    const noCoalesce = await cli(['event', '--coalesce=false', 'restart', '--http', e2.http]);
    assert.match(noCoalesce.stdout, /coalescing off/);
    await waitFor(
      () =>
        streams[0]!.events.some((e) => e.event === 'user' && e.data.name === 'restart' && e.data.coalesce === false),
      10_000,
      'the uncoalesced event at e1',
    );

    // A query filtered by tag: acks and responses from exactly the web members, and the totals.
    const q = await cli(['query', '--tag', 'role=web', '--timeout', '2s', 'uptime', '--http', e1.http]);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /^Query "uptime" sent\n/);
    assert.deepEqual(from(q.stdout, 'Ack'), web, q.stdout);
    assert.deepEqual(from(q.stdout, 'Response'), web, q.stdout);
    for (const id of web) assert.match(q.stdout, new RegExp(`^Response from "${id}" after \\d+ ms: up on ${id}$`, 'm'));
    assert.match(q.stdout, /^Total acks: 3, responses: 3, errors: 0 \(3 members asked, 2\.\d\d s\)$/m);
    const byId = await cli(['query', '--node', 'e3', '--node', 'e4', '--timeout', '1s', 'uptime', '--http', e2.http]);
    assert.deepEqual(from(byId.stdout, 'Ack'), ['e3', 'e4'], byId.stdout);
    const both = await cli([
      'query',
      '--tag',
      'role=web',
      '--node',
      'e3',
      '--node',
      'e4',
      '--timeout',
      '1s',
      'x',
      '--http',
      e2.http,
    ]);
    assert.deepEqual(from(both.stdout, 'Ack'), ['e4'], `tags and ids must both hold: ${both.stdout}`);
    const noAck = await cli(['query', '--tag', 'role=db', '--no-ack', '--timeout', '1s', 'uptime', '--http', e1.http]);
    assert.deepEqual(from(noAck.stdout, 'Ack'), []);
    assert.deepEqual(from(noAck.stdout, 'Error'), ['e3'], noAck.stdout);
    assert.match(noAck.stdout, /^Total acks: 0, responses: 0, errors: 1 /m);
    const json = await cli([
      'query',
      '--tag',
      'role=db',
      '--format',
      'json',
      '--timeout',
      '1s',
      'uptime',
      '--http',
      e2.http,
    ]);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines
        .filter((l) => l.kind === 'ack')
        .map((l) => l.from)
        .sort(),
      ['e1', 'e3'],
    );
    const failed = lines.find((l) => l.kind === 'error');
    assert.equal(failed?.from, 'e3');
    assert.equal(typeof failed?.message, 'string');
    assert.deepEqual(
      { ...lines.at(-1), elapsedMs: 0 },
      {
        kind: 'summary',
        asked: 2,
        notAsked: 0,
        acks: 2,
        responses: 0,
        errors: 1,
        elapsedMs: 0,
      },
    );
    // The web members saw the queries on /events; a db member saw none of the web-only ones.
    await waitFor(
      () =>
        web.every((_, i) =>
          streams[[1, 3, 4][i]!]!.events.some((e) => e.event === 'query' && e.data.name === 'uptime'),
        ),
      3_000,
      'query events on the web members',
    );
    const asked = streams[1]!.events.find((e) => e.event === 'query')!.data;
    assert.equal(asked.origin, 'e1');
    assert.equal(typeof asked.queryId, 'string');

    // POST /query straight: NDJSON by default, SSE when asked for.
    const nd = await post(e3.http, '/query', { name: 'ping', tags: { role: 'web' }, timeoutMs: 800 });
    assert.equal(nd.status, 200);
    assert.match(nd.type ?? '', /^application\/x-ndjson/);
    const ndLines = nd.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      ndLines
        .filter((l) => l.kind === 'ack')
        .map((l) => l.from)
        .sort(),
      web,
    );
    for (const l of ndLines.filter((x) => x.kind === 'ack')) assert.ok((l.latencyMs as number) >= 0);
    assert.equal(ndLines.at(-1)?.kind, 'summary');
    const ev = await post(
      e3.http,
      '/query',
      { name: 'ping', ids: ['e5'], timeoutMs: 800 },
      { accept: 'text/event-stream' },
    );
    assert.match(ev.type ?? '', /^text\/event-stream/);
    assert.match(ev.text, /^event: ack\ndata: \{"kind":"ack","from":"e5","latencyMs":[\d.]+\}\n\n/);
    assert.match(ev.text, /event: summary\ndata: \{"kind":"summary","asked":1,/);

    // The ring: every live member, shares summing to 1; filtered by tag.
    const ring = (await getJson<{ members: string[]; shares: Record<string, number> }>(e1.http, '/ring')).body;
    assert.deepEqual([...ring.members].sort(), ['e1', 'e2', 'e3', 'e4', 'e5']);
    const total = Object.values(ring.shares).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-6, `shares sum to ${total}`);
    const webRing = (await getJson<{ members: string[] }>(e1.http, '/ring?tag=role=web&replicas=32')).body;
    assert.deepEqual([...webRing.members].sort(), web);

    // The counters.
    assert.ok((await metric(e1.http, 'scuttlebutt_user_events_total', 'outcome="sent"')) >= 1);
    assert.ok((await metric(e3.http, 'scuttlebutt_user_events_total', 'outcome="delivered"')) >= 2);
    assert.ok((await metric(e1.http, 'scuttlebutt_queries_total', 'outcome="sent"')) >= 2);
    assert.ok((await metric(e2.http, 'scuttlebutt_queries_total', 'outcome="received"')) >= 1);
  } finally {
    for (const s of streams) s.close();
    killAll(agents);
  }
});

test('bad events and queries: exit 2 for the command line, 400s that name the field, 401 without the token; the agent runs on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-events-'));
  const tokenFile = join(dir, 'http-token');
  const agents: Agent[] = [];
  try {
    for (const [args, message] of [
      [['event'], /event takes 1 to 2 argument\(s\), got 0/],
      [['event', '--coalesce=maybe', 'x'], /--coalesce must be true or false \(got "maybe"\)/],
      [['query'], /query takes 1 to 2 argument\(s\), got 0/],
      [['query', '--timeout', '5', 'x'], /--timeout must be a duration such as 500ms, 5s or 1m \(got "5"\)/],
      [['query', '--tag', 'role', 'x'], /--tag must be KEY=VALUE \(got "role"\)/],
      [['query', '--format', 'xml', 'x'], /--format must be text or json/],
      [['query', '--relay-factor=-1', 'x'], /--relay-factor must be an integer >= 0/],
      [['query', '--relay-factor', '9', 'x'], /--relay-factor must be an integer from 0 to 8/],
      [['query', '--node', '', 'x'], /--node must name a member/],
    ] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, new RegExp(`usage: scuttlebutt ${args[0]}`));
    }
    const away = await cli(['event', 'x', '--http', '127.0.0.1:9']);
    assert.equal(away.code, 1);
    assert.match(away.stderr, /no agent answers on http:\/\/127\.0\.0\.1:9/);
    assert.match((await cli(['query', 'x', '--http', '127.0.0.1:9'])).stderr, /no agent answers/);

    const token = (await cli(['keygen'])).stdout.trim();
    writeFileSync(tokenFile, `${token}\n`);
    const a = await startAgent('bad', ['--http-token-file', tokenFile]);
    agents.push(a);
    const auth = { authorization: `Bearer ${token}` };

    // The write token, as for every other write.
    for (const path of ['/event', '/query']) {
      const r = await post(a.http, path, { name: 'x' });
      assert.equal(r.status, 401, path);
      assert.match(
        (JSON.parse(r.text) as { error: string }).error,
        new RegExp(`POST ${path} changes.*--http-token-file`),
      );
    }
    const refused = await cli(['event', 'x', '--http', a.http]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--http-token-file/);
    const ok = await cli(['event', 'x', '--http', a.http, '--http-token-file', tokenFile]);
    assert.equal(ok.code, 0, ok.stderr);
    const alone = await cli(['query', 'x', '--timeout', '300ms', '--http', a.http, '--http-token-file', tokenFile]);
    assert.equal(alone.code, 0, alone.stderr);
    assert.match(alone.stdout, /^Total acks: \d+, responses: 0, errors: 0/m);

    // Bodies: each mistake a 400 naming the field.
    for (const [path, body, message] of [
      ['/event', '{"name": "x",', /request body must be JSON/],
      ['/event', '["deploy"]', /must be a JSON object/],
      ['/event', {}, /needs "name", a non-empty string \(got none\)/],
      ['/event', { name: 'x', payload: { v: 1 } }, /"payload" must be a string/],
      ['/event', { name: 'x', payloadBase64: 'not base64!' }, /"payloadBase64" must be a base64 string/],
      ['/event', { name: 'x', coalesce: 'no' }, /"coalesce" must be true or false/],
      ['/event', { name: 'x', colour: 'red' }, /unknown field "colour"/],
      ['/query', { name: 'x', tags: 'role=web' }, /"tags" must be an object of strings/],
      ['/query', { name: 'x', ids: 'e1' }, /"ids" must be an array of member ids/],
      ['/query', { name: 'x', timeoutMs: 0 }, /"timeoutMs" must be an integer from 1 to 600000/],
      ['/query', { name: 'x', timeoutMs: 10_000_000 }, /"timeoutMs"/],
      ['/query', { name: 'x', ack: 1 }, /"ack" must be true or false/],
      ['/query', { name: 'x', relayFactor: 1.5 }, /"relayFactor" must be an integer/],
      ['/event', { name: 'x'.repeat(10_000) }, /name/],
      ['/event', { name: 'x', payload: 'p'.repeat(60_000) }, /payload|bytes|large/i],
      ['/query', { name: 'x', payload: 'p'.repeat(60_000) }, /payload|bytes|large/i],
    ] as const) {
      const r = await post(a.http, path, body, auth);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
      assert.match((JSON.parse(r.text) as { error: string }).error, message);
    }
    assert.equal((await post(a.http, '/event', { name: 'x' }, { ...auth, 'content-type': 'text/plain' })).status, 415);
    assert.equal((await fetch(`http://${a.http}/event`)).status, 405);
    assert.equal((await fetch(`http://${a.http}/ring`, { method: 'POST' })).status, 405);
    for (const q of ['replicas=0', 'replicas=x', 'tag=role', 'key=x']) {
      const r = await getJson<{ error: string }>(a.http, `/ring?${q}`);
      assert.equal(r.status, 400, q);
      assert.match(r.body.error, /"replicas"|"tag"|"key"/);
    }
    const cliTooLong = await cli(['event', 'x'.repeat(10_000), '--http', a.http, '--http-token-file', tokenFile]);
    assert.equal(cliTooLong.code, 1);
    assert.match(cliTooLong.stderr, /name/);

    // The rate limit is a 429 saying so, for events and queries alike (a script backs off on it).
    for (const path of ['/query', '/event']) {
      const statuses: number[] = [];
      let message = '';
      for (let i = 0; i < 200 && !statuses.includes(429); i++) {
        const r = await post(a.http, path, { name: 'flood', ...(path === '/query' ? { timeoutMs: 20 } : {}) }, auth);
        statuses.push(r.status);
        if (r.status === 429) message = (JSON.parse(r.text) as { error: string }).error;
      }
      assert.ok(statuses.includes(429), `${path}: ${statuses.length} requests, no 429`);
      assert.ok(statuses.filter((st) => st !== 200 && st !== 429).length === 0, statuses.join());
      assert.match(message, /rate/i);
    }

    // The agent lived through all of it.
    assert.equal((await getJson(a.http, '/health')).status, 200);
    assert.equal(a.proc.exitCode, null);
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

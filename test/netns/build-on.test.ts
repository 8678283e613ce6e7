/**
 * What people build on the membership, end to end on real hosts: five `scuttlebutt agent` processes,
 * each in a network namespace of its own, every host dropping 10 % of the gossip packets it receives
 * (nftables), driven through the agents' HTTP API and CLI as a user would:
 *   - each user event reaches every agent exactly once, with the Lamport time its origin gave it, and
 *     an event issued after another was seen carries a later Lamport time;
 *   - a coalesced burst of 100 same-name events delivers the newest only;
 *   - a query filtered by tag gets acks and answers from exactly the matching agents within its timeout;
 *   - handler scripts run with the documented environment, and a query handler's stdout is its answer;
 *   - an agent killed and restarted with its snapshot and no seeds is back in the cluster.
 * Skipped, saying why, without root or ip/nft; under CI=true that is a failure instead.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../runtime/procs.js';
import { addAddress, NsAgent, type CliResult, type SseEvent } from './ns-agents.js';
import { TestBed, unavailable } from './testbed.js';

const unmet = unavailable();
const inCi = process.env.CI === 'true';
const why = inCi ? null : unmet;
const N = 5;
/** Tags: the query's filter (role=web) matches h0, h2 and h4. */
const ROLE = ['web', 'db', 'web', 'db', 'web'];
const WEB = ['h0', 'h2', 'h4'];
const LOSS_PERCENT = 10;

let bed: TestBed;
let dir: string;
const agents: NsAgent[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The user events an agent's /events stream carried, in the order it carried them. */
interface Delivered {
  readonly name: string;
  readonly payload: string;
  readonly ltime: number;
  readonly origin: string;
}
function delivered(a: NsAgent, name: string): Delivered[] {
  return a.events
    .filter((e: SseEvent) => e.event === 'user' && e.data.name === name)
    .map((e) => ({
      name: e.data.name as string,
      payload: e.data.payload as string,
      ltime: e.data.ltime as number,
      origin: e.data.origin as string,
    }));
}

/** The environment and stdin of every run of a handler script, from the files the scripts wrote. */
interface HandlerRun {
  readonly file: string;
  readonly env: Record<string, string>;
  readonly stdin: string;
}
function handlerRuns(self: string, kind: 'user' | 'query' | 'join'): HandlerRun[] {
  return readdirSync(dir)
    .filter((f) => new RegExp(`^${self}\\.${kind}\\.\\d+$`).test(f))
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const [envPart = '', stdin = ''] = text.split('\n--stdin--\n');
      const env: Record<string, string> = {};
      for (const line of envPart.split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      return { file: f, env, stdin };
    });
}

/**
 * A handler script that records its environment (the SCUTTLEBUTT_ variables) and stdin in a file of
 * its own per run (runs may overlap). The query handler also answers "ID:PAYLOAD" on stdout.
 */
function writeHandler(kind: 'user' | 'query' | 'join'): string {
  const path = join(dir, `${kind}.sh`);
  const file = `${dir}/$SCUTTLEBUTT_SELF_NAME.${kind}.$$`;
  const answer = kind === 'query' ? `printf '%s:' "$SCUTTLEBUTT_SELF_NAME"\ncat "${file}.in"\n` : '';
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `cat > "${file}.in"`,
      `{ env | grep '^SCUTTLEBUTT_' | sort; printf '%s\\n' '--stdin--'; cat "${file}.in"; } > "${file}.tmp"`,
      `mv "${file}.tmp" "${file}"`,
      answer,
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

function agentFlags(i: number): string[] {
  return [
    '--tag',
    `role=${ROLE[i]}`,
    '--event-handler',
    `user:deploy=${join(dir, 'user.sh')}`,
    '--event-handler',
    `query:whoami=${join(dir, 'query.sh')}`,
    '--event-handler',
    `member-join=${join(dir, 'join.sh')}`,
    '--snapshot',
    join(dir, `h${i}.snapshot`),
  ];
}
/**
 * For a query's failure: each agent's member events (a death, a revival) since the test file's cluster formed,
 * with their time from the query's start, its live view now, and its query counters (a query refused, relayed).
 */
async function queryDiagnosis(t0: number): Promise<string> {
  const out: string[] = [];
  for (const a of agents) {
    const members = a.events
      .filter((e) => e.event !== 'user' && e.event !== 'query')
      .map((e) => `${e.event} ${String((e.data.node as { id?: string } | undefined)?.id ?? '')} at ${e.at - t0} ms`);
    const stats = await a
      .get<{ queries?: unknown }>('/stats')
      .catch((err: Error) => ({ body: { queries: err.message } }));
    out.push(
      `${a.id}: live ${(await a.liveIds().catch(() => ['?'])).join(' ')}; queries ${JSON.stringify(stats.body.queries)}; ` +
        `member events ${members.join(', ') || 'none'}`,
    );
  }
  return `\n${out.join('\n')}`;
}

/** The command and what it printed, line by line, in the test's output (the closing note quotes it). */
function transcript(t: TestContext, command: string, r: CliResult): void {
  for (const line of [command, ...`${r.stdout}${r.stderr}`.trimEnd().split('\n')]) t.diagnostic(line);
}
const seed = (): string[] => ['--join', `${bed.addresses[0]}:9111`];

before(async () => {
  if (why) return;
  bed = new TestBed(N);
  dir = mkdtempSync(join(tmpdir(), 'sb-build-on-'));
  for (const kind of ['user', 'query', 'join'] as const) writeHandler(kind);
  for (let i = 0; i < N; i++) agents.push(await NsAgent.start(bed, i, [...agentFlags(i), ...(i ? seed() : [])], dir));
  await waitFor(
    async () => (await Promise.all(agents.map((a) => a.liveIds()))).every((ids) => ids.length === N),
    20_000,
    'all five agents see all five live',
  );
  for (const a of agents) await a.watch();
  for (let i = 0; i < N; i++) bed.loss(i, LOSS_PERCENT);
});

after(async () => {
  for (const a of agents) await a.kill();
  bed?.close();
  // Scripts still running when their agent was killed may write one more file: retried.
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});

test('real hosts can be made here (root, ip, nft)', { skip: why ?? false }, () => {
  assert.equal(unmet, null, `CI=true, but the real-host tests cannot run: ${unmet}`);
});

const EVENTS = 12;
const issued: { payload: string; ltime: number; origin: string }[] = [];

test(
  `${LOSS_PERCENT} % loss: each of ${EVENTS} user events reaches every agent exactly once, in Lamport order`,
  { skip: why ?? false, timeout: 90_000 },
  async () => {
    for (let k = 0; k < EVENTS; k++) {
      const issuer = agents[k % N] as NsAgent;
      // Each event is issued by an agent that has already seen the one before: its Lamport time must be later.
      const before = issued[k - 1];
      if (before)
        await waitFor(
          () => delivered(issuer, 'deploy').some((d) => d.payload === before.payload),
          15_000,
          `${issuer.id} delivered ${before.payload}`,
        );
      const res = await issuer.post<{ ltime: number }>('/event', {
        name: 'deploy',
        payload: `d${k}`,
        coalesce: false,
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      issued.push({ payload: `d${k}`, ltime: res.body.ltime, origin: issuer.id });
    }
    await waitFor(
      () => agents.every((a) => delivered(a, 'deploy').length >= EVENTS),
      20_000,
      `every agent delivered ${EVENTS} events`,
    );
    // Retransmissions keep arriving for a while: a duplicate would be delivered within this wait.
    await sleep(4000);
    for (let k = 1; k < EVENTS; k++)
      assert.ok(
        (issued[k] as { ltime: number }).ltime > (issued[k - 1] as { ltime: number }).ltime,
        `issued after d${k - 1} was seen, d${k} has a later Lamport time: ${JSON.stringify(issued)}`,
      );
    const expected = issued.map((e) => `${e.payload}@${e.ltime} from ${e.origin}`).sort();
    for (const a of agents) {
      const got = delivered(a, 'deploy').map((d) => `${d.payload}@${d.ltime} from ${d.origin}`);
      assert.deepEqual([...got].sort(), expected, `${a.id} delivered each event once, with its origin's Lamport time`);
      // Sorting by Lamport time gives back the order they were issued in, on every agent.
      assert.deepEqual(
        [...delivered(a, 'deploy')].sort((x, y) => x.ltime - y.ltime).map((d) => d.payload),
        issued.map((e) => e.payload),
      );
    }
  },
);

test(
  'handler scripts run once per event with the documented environment, the payload on stdin',
  { skip: why ?? false, timeout: 30_000 },
  async () => {
    assert.equal(issued.length, EVENTS, 'needs the events of the test before');
    await waitFor(
      () => agents.every((a) => handlerRuns(a.id, 'user').length >= EVENTS),
      15_000,
      'every user handler ran',
    );
    for (const [i, a] of agents.entries()) {
      const runs = handlerRuns(a.id, 'user');
      assert.equal(runs.length, EVENTS, `${a.id}: one handler run per event`);
      const byLtime = new Map(runs.map((r) => [Number(r.env.SCUTTLEBUTT_USER_LTIME), r]));
      for (const e of issued) {
        const run = byLtime.get(e.ltime);
        assert.ok(run, `${a.id}: a handler run for ${e.payload} (ltime ${e.ltime})`);
        assert.equal(run.stdin, e.payload, `${a.id}: the payload on stdin`);
        assert.deepEqual(
          {
            event: run.env.SCUTTLEBUTT_EVENT,
            name: run.env.SCUTTLEBUTT_USER_EVENT,
            self: run.env.SCUTTLEBUTT_SELF_NAME,
            address: run.env.SCUTTLEBUTT_SELF_ADDRESS,
            role: run.env.SCUTTLEBUTT_TAG_ROLE,
          },
          { event: 'user', name: 'deploy', self: a.id, address: a.address, role: ROLE[i] },
        );
      }
    }
  },
);

test(
  'a coalesced burst of 100 same-name events delivers the newest only',
  { skip: why ?? false, timeout: 60_000 },
  async () => {
    const issuer = agents[0] as NsAgent;
    for (let k = 0; k < 100; k++) {
      const res = await issuer.post('/event', { name: 'burst', payload: `b${k}` });
      assert.equal(res.status, 200, `burst event ${k}: ${JSON.stringify(res.body)}`);
    }
    await waitFor(
      () => agents.every((a) => delivered(a, 'burst').some((d) => d.payload === 'b99')),
      20_000,
      'every agent delivered the newest of the burst',
    );
    await sleep(4000);
    for (const a of agents)
      assert.deepEqual(
        delivered(a, 'burst').map((d) => d.payload),
        ['b99'],
        `${a.id} delivered the newest of the burst and nothing else`,
      );
  },
);

test(
  'a query filtered by tag: acks and answers from exactly the matching agents, within its timeout',
  { skip: why ?? false, timeout: 60_000 },
  async () => {
    const timeoutMs = 3000;
    const querier = agents[1] as NsAgent; // role=db: not itself matched
    const t0 = Date.now();
    const { status, lines } = await querier.postLines('/query', {
      name: 'whoami',
      payload: 'ping',
      tags: { role: 'web' },
      timeoutMs,
      // Relayed answers: 10 % loss on the querier's host would otherwise lose one answer in ten.
      relayFactor: 2,
    });
    const took = Date.now() - t0;
    assert.equal(status, 200);
    const from = (kind: string): string[] =>
      lines
        .filter((l) => l.kind === kind)
        .map((l) => l.from as string)
        .sort();
    // A missing ack is about 1 in 7,000 per member from 10 % loss alone (four sends, each answered directly and
    // through two relays the first time: docs/protocol.md); a failure says what else each agent saw.
    const why = from('ack').join() === WEB.join() ? '' : await queryDiagnosis(t0);
    assert.deepEqual(from('ack'), WEB, `acks: ${JSON.stringify(lines)}${why}`);
    assert.deepEqual(from('response'), WEB, `responses: ${JSON.stringify(lines)}`);
    assert.deepEqual(from('error'), []);
    for (const l of lines.filter((l) => l.kind === 'response')) {
      assert.equal(l.payload, `${l.from as string}:ping`, 'the handler script answered on stdout');
      assert.ok((l.latencyMs as number) <= timeoutMs, `answered within the timeout: ${JSON.stringify(l)}`);
    }
    const summary = lines[lines.length - 1] as Record<string, unknown>;
    assert.equal(summary.kind, 'summary');
    assert.equal(summary.acks, WEB.length);
    assert.equal(summary.responses, WEB.length);
    // The stream ends at the timeout (not before: more answers could come; not long after).
    assert.ok(took >= timeoutMs - 50 && took < timeoutMs + 2000, `the query ended after ${took} ms`);
    // The handler ran on the matching agents only, with the query's environment.
    for (const a of agents) {
      const runs = handlerRuns(a.id, 'query');
      if (!WEB.includes(a.id)) {
        assert.deepEqual(runs, [], `${a.id} does not match role=web: no handler run`);
        continue;
      }
      assert.equal(runs.length, 1, `${a.id}: one handler run`);
      const run = runs[0] as HandlerRun;
      assert.equal(run.stdin, 'ping');
      assert.equal(run.env.SCUTTLEBUTT_EVENT, 'query');
      assert.equal(run.env.SCUTTLEBUTT_QUERY_NAME, 'whoami');
      assert.match(run.env.SCUTTLEBUTT_QUERY_LTIME ?? '', /^\d+$/);
    }
  },
);

test(
  'an agent killed and restarted with its snapshot and no seeds is back in the cluster',
  { skip: why ?? false, timeout: 90_000 },
  async () => {
    const i = 3;
    const snapshot = join(dir, `h${i}.snapshot`);
    await waitFor(
      () =>
        existsSync(snapshot) &&
        agents.filter((_, j) => j !== i).every((a) => readFileSync(snapshot, 'utf8').includes(a.address)),
      15_000,
      `h${i}'s snapshot holds every other member's address`,
    );
    const old = agents[i] as NsAgent;
    const oldGeneration = (await old.get<{ self: { generation: number } }>('/members')).body.self.generation;
    await old.kill('SIGKILL');
    // Every other agent convicts it first, and it comes back at a new address: the others still
    // reach out to the old address of a dead member, so a restart there would be found without any
    // snapshot. At a new one, only the snapshot's addresses lead back.
    await waitFor(
      async () =>
        (await Promise.all(agents.filter((a) => a !== old).map((a) => a.liveIds()))).every(
          (ids) => !ids.includes(`h${i}`),
        ),
      20_000,
      `every other agent convicts the killed h${i}`,
    );
    const joinsBefore = new Set(handlerRuns('h0', 'join').map((r) => r.file));
    // No --join: the snapshot is the only way back.
    const restarted = await NsAgent.start(bed, i, agentFlags(i), dir, addAddress(bed, i));
    agents[i] = restarted;
    await restarted.watch();
    const generation = (await restarted.get<{ self: { generation: number } }>('/members')).body.self.generation;
    assert.notEqual(generation, oldGeneration, 'a new generation');
    const all = agents.map((a) => a.id).sort();
    await waitFor(
      async () => (await restarted.liveIds()).join() === all.join(),
      30_000,
      `the restarted h${i} sees all ${N} live`,
    );
    await waitFor(
      async () =>
        (
          await Promise.all(
            agents.map(async (a) =>
              (await a.get<{ live: { id: string; generation: number }[] }>('/members')).body.live.some(
                (m) => m.id === `h${i}` && m.generation === generation,
              ),
            ),
          )
        ).every(Boolean),
      30_000,
      `every agent sees h${i}'s new generation live`,
    );
    // The member-join handler ran for it on h0: one stdin line per member, "id address status tags"
    // tab-separated, tags as key=value,...
    const line = `h${i}\t${restarted.address}\tlive\trole=${ROLE[i]}`;
    const joined = (): HandlerRun | undefined =>
      handlerRuns('h0', 'join').find((r) => !joinsBefore.has(r.file) && r.stdin.split('\n').includes(line));
    await waitFor(() => joined() !== undefined, 15_000, `h0 ran its member-join handler with "${line}" on stdin`);
    const run = joined() as HandlerRun;
    assert.equal(run.env.SCUTTLEBUTT_EVENT, 'member-join');
    assert.equal(run.env.SCUTTLEBUTT_SELF_NAME, 'h0');
  },
);

test(
  'the CLI, loss healed: an event reaches every agent, a filtered query is answered by the web agents only',
  { skip: why ?? false, timeout: 60_000 },
  async (t) => {
    bed.heal();
    const ev = await (agents[2] as NsAgent).cli(['event', 'deploy', 'v2']);
    transcript(t, 'h2$ scuttlebutt event deploy v2', ev);
    assert.equal(ev.code, 0, ev.stderr);
    await waitFor(
      () => agents.every((a) => delivered(a, 'deploy').some((d) => d.payload === 'v2')),
      10_000,
      'every agent delivered the CLI event',
    );
    const q = await (agents[1] as NsAgent).cli(['query', '--tag', 'role=web', '--timeout', '2s', 'whoami', 'hello']);
    transcript(t, 'h1$ scuttlebutt query --tag role=web --timeout 2s whoami hello', q);
    assert.equal(q.code, 0, q.stderr);
    for (const id of WEB) assert.match(q.stdout, new RegExp(`${id}:hello`), `${id}'s answer is printed`);
    for (const id of ['h1', 'h3']) assert.doesNotMatch(q.stdout, new RegExp(`\\b${id}\\b`), `${id} is not asked`);
    const json = await (agents[1] as NsAgent).cli([
      'query',
      '--tag',
      'role=web',
      '--timeout',
      '2s',
      '--format',
      'json',
      'whoami',
      'j',
    ]);
    assert.equal(json.code, 0, json.stderr);
    const answers = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; from?: string; payload?: string });
    assert.deepEqual(
      answers
        .filter((a) => a.kind === 'response')
        .map((a) => a.from)
        .sort(),
      WEB,
    );
    assert.equal(answers[answers.length - 1]?.kind, 'summary');
  },
);

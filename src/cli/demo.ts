/**
 * `npm start`: a local cluster of real agent processes on loopback, shown live. Nodes join, a tag
 * spreads, one node is killed with SIGKILL and convicted by every other, then restarts as a new
 * generation. On a terminal it is a table redrawn as things happen, and the cluster then stays up,
 * its dashboard open to a browser, until Ctrl-C (SIGINT or SIGTERM: every agent leaves gracefully).
 * Otherwise (a pipe, a log, CI), or with `--once`, the same story as plain lines, and everything
 * shuts down by itself; `--stay-up` keeps the cluster up off a terminal too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClusterState, MemberInfo } from '../runtime/api.js';
import { UsageError } from './usage.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5' },
    'base-port': { type: 'string', default: '17400' },
    'interval-ms': { type: 'string', default: '300' },
    once: { type: 'boolean', default: false },
    'stay-up': { type: 'boolean', default: false },
  },
});
const N = Number(values.nodes);
const BASE = Number(values['base-port']);
const INTERVAL = Number(values['interval-ms']);
if (!Number.isInteger(N) || N < 3 || N > 20) throw new UsageError('--nodes must be an integer from 3 to 20');
if (!Number.isInteger(BASE) || BASE < 1024 || BASE + 2 * N > 65535)
  throw new UsageError(`--base-port must be an integer from 1024 to ${65535 - 2 * N}`);

if (values.once && values['stay-up']) throw new Error('--once and --stay-up contradict each other: pick one');

const tty = process.stdout.isTTY === true;
/** After the story: keep the cluster up until a signal (a person at a terminal), or shut it down (a pipe, CI). */
const STAY_UP = values['stay-up'] || (tty && !values.once);
/** Pause between acts on a terminal, so a person can read the table. */
const HOLD = tty ? 1500 : 0;
const t0 = Date.now();
const clock = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const color = (code: string, s: string): string => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);

interface Agent {
  id: string;
  gossip: number;
  http: number;
  proc: ChildProcess | null;
}

const agents: Agent[] = Array.from({ length: N }, (_, i) => ({
  id: `node-${i + 1}`,
  gossip: BASE + 2 * i,
  http: BASE + 2 * i + 1,
  proc: null,
}));
/** Never killed, so its dashboard stays up for the whole demo. */
const DASHBOARD = `http://127.0.0.1:${(agents[0] as Agent).http}/ui`;

/** Set by the first SIGINT or SIGTERM: the story stops where it is, and no agent is started again. */
let stopping = false;

function start(a: Agent, tags: string[]): void {
  if (stopping) return;
  const args = [
    'agent',
    '--bind',
    `127.0.0.1:${a.gossip}`,
    '--http',
    `127.0.0.1:${a.http}`,
    '--node-id',
    a.id,
    '--cluster',
    'demo',
    '--interval-ms',
    String(INTERVAL),
    '--log-level',
    'silent',
  ];
  if (a !== agents[0]) args.push('--join', `127.0.0.1:${(agents[0] as Agent).gossip}`);
  for (const t of tags) args.push('--tag', t);
  a.proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function view(a: Agent): Promise<ClusterState | null> {
  if (!a.proc) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${a.http}/members`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as ClusterState;
  } catch {
    return null;
  }
}

/** Every running agent's view of the cluster (null: down or not answering yet). */
type Views = Map<string, ClusterState | null>;

async function views(): Promise<Views> {
  const out: Views = new Map();
  await Promise.all(agents.map(async (a) => out.set(a.id, await view(a))));
  return out;
}

/** What observer `obs` thinks of member `id`: its newest incarnation there, or undefined. */
function seen(v: ClusterState | null | undefined, id: string): MemberInfo | undefined {
  if (!v) return undefined;
  let best: MemberInfo | undefined;
  for (const m of [...v.live, ...v.dead]) if (m.id === id && (!best || m.generation > best.generation)) best = m;
  return best;
}

interface Row {
  id: string;
  address: string;
  generation: number | null;
  /** 'live' / 'dead' when every other answering agent agrees; otherwise how far it got. */
  status: 'live' | 'dead' | 'joining' | 'dying' | 'unknown';
  live: number;
  dead: number;
  observers: number;
  /** One per agent: its view of this member. */
  cells: ('live' | 'dead' | 'none' | 'down')[];
  metadata: Record<string, string>;
}

function rows(v: Views): Row[] {
  return agents.map((member) => {
    let live = 0;
    let dead = 0;
    let observers = 0;
    let newest: MemberInfo | undefined;
    const cells = agents.map((obs) => {
      const state = v.get(obs.id);
      if (!state) return 'down' as const;
      const m = seen(state, member.id);
      if (
        m &&
        (!newest ||
          m.generation > newest.generation ||
          (m.generation === newest.generation && m.heartbeat > newest.heartbeat))
      )
        newest = m;
      if (obs !== member) {
        observers++;
        if (m?.status === 'live') live++;
        if (m?.status === 'dead') dead++;
      }
      return m ? m.status : ('none' as const);
    });
    const status =
      observers === 0
        ? 'unknown'
        : live === observers
          ? 'live'
          : dead === observers
            ? 'dead'
            : dead > 0
              ? 'dying'
              : live > 0 || v.get(member.id)
                ? 'joining'
                : 'unknown';
    return {
      id: member.id,
      address: `127.0.0.1:${member.gossip}`,
      generation: newest?.generation ?? null,
      status,
      live,
      dead,
      observers,
      cells,
      metadata: { ...(newest?.metadata ?? {}) },
    };
  });
}

const gen = (g: number | null): string => (g === null ? '-' : `…${String(g).slice(-5)}`);
const meta = (m: Record<string, string>): string =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';
const statusText = (r: Row): string =>
  r.status === 'unknown'
    ? 'unknown'
    : `${r.status} ${r.status === 'dead' || r.status === 'dying' ? r.dead : r.live}/${r.observers}`;

/** What happened, newest last: the narration under the table, or the plain lines off a terminal. */
const story: string[] = [];
let caption = 'starting';
let lastRows: Row[] = [];

function say(line: string): void {
  const entry = `[${clock()}] ${line}`;
  story.push(entry);
  if (tty) draw();
  else process.stdout.write(`${entry}\n`);
}

function draw(): void {
  const paint = { live: '32', dead: '31', dying: '33', joining: '33', unknown: '2' } as const;
  const cell = {
    live: color('32', '●'),
    dead: color('31', '✕'),
    none: color('2', '·'),
    down: color('2', '-'),
  } as const;
  const head = ['MEMBER', 'ADDRESS', 'GEN', 'STATUS', 'VIEWS', 'METADATA'];
  const body = lastRows.map((r) => [
    r.id,
    r.address,
    gen(r.generation),
    statusText(r),
    r.cells.map((c) => cell[c]).join(''),
    meta(r.metadata),
  ]);
  const w = [8, 15, 7, 10, N];
  const pad = (s: string, n: number, visible = s.length): string => s + ' '.repeat(Math.max(0, n - visible));
  const lines = [
    color('1', ` scuttlebutt demo: ${N} agents on loopback, gossip every ${INTERVAL} ms`) + color('2', `   ${clock()}`),
    ` dashboard (node-1): ${color('4', DASHBOARD)}`,
    '',
    color('1', ` ${head.map((h, i) => (i < w.length ? pad(h, w[i] as number) : h)).join('  ')}`),
    ...body.map((cols, ri) => {
      const r = lastRows[ri] as Row;
      const painted = cols.map((c, i) =>
        i === 3
          ? color(paint[r.status], pad(c, w[3] as number))
          : i === 4
            ? pad(c, N, N)
            : i < w.length
              ? pad(c, w[i] as number)
              : c,
      );
      return ` ${painted.join('  ')}`;
    }),
    '',
    color(
      '2',
      ` VIEWS: each agent's view of the member: ${cell.live} live ${cell.dead} dead ${cell.none} unknown ` +
        `${cell.down} agent down`,
    ),
    '',
    color('1', ` ▸ ${caption}`),
    ...story.slice(-6).map((s) => ` ${s}`),
  ];
  process.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
}

/** Off a terminal: one line per member whenever its status, generation or metadata changes. */
const printed = new Map<string, string>();
function report(rs: Row[]): void {
  for (const r of rs) {
    if (r.status === 'unknown') continue;
    const line =
      `${r.id.padEnd(8)} ${r.status.padEnd(7)} other agents: ${r.live} of ${r.observers} see it live, ` +
      `${r.dead} dead  gen ${gen(r.generation)}  ${meta(r.metadata)}`;
    const key = `${r.status} ${r.generation} ${meta(r.metadata)}`;
    if (printed.get(r.id) === key) continue;
    printed.set(r.id, key);
    process.stdout.write(`[${clock()}]   ${line}\n`);
  }
}

/** Polls every agent until `cond` holds (true), the timeout passes or a signal stops the demo (false). */
async function until(
  what: string,
  cond: (rs: Row[], v: Views) => boolean,
  timeoutMs: number,
  pollMs = 200,
): Promise<boolean> {
  caption = what;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await views();
    if (stopping) return false;
    lastRows = rows(v);
    if (tty) draw();
    else report(lastRows);
    if (cond(lastRows, v)) return true;
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
}

/** Holds on a terminal, redrawing so the clock runs. */
async function hold(): Promise<void> {
  if (HOLD > 0) await until(caption, () => false, HOLD);
}

const row = (rs: Row[], id: string): Row => rs.find((r) => r.id === id) as Row;

async function main(): Promise<void> {
  if (tty) process.stdout.write('\x1b[?25l\x1b[2J');
  say(`starting ${N} agents (processes, UDP 127.0.0.1:${BASE}..${BASE + 2 * N - 1}); dashboard: ${DASHBOARD}`);
  for (const a of agents) {
    start(a, [`zone=z${agents.indexOf(a) % 2}`]);
    await sleep(150);
  }
  const ok1 = await until('nodes joining through node-1', (rs) => rs.every((r) => r.status === 'live'), 15_000);
  if (stopping) return;
  say(ok1 ? `all ${N} agents see all ${N} as live` : 'cluster did not converge in 15 s');
  await hold();

  const tagAt = Date.now();
  await fetch(`http://127.0.0.1:${(agents[1] as Agent).http}/kv/color`, { method: 'PUT', body: 'green' });
  const everyoneSees = (_: Row[], v: Views): boolean =>
    agents.every((a) => seen(v.get(a.id), 'node-2')?.metadata.color === 'green');
  const ok2 = await until('node-2 sets color=green', everyoneSees, 10_000);
  if (stopping) return;
  say(ok2 ? `node-2's color=green reached every agent in ${Date.now() - tagAt} ms` : 'the tag did not spread in 10 s');
  await hold();

  const victim = agents[N - 1] as Agent;
  say(`SIGKILL ${victim.id} (no goodbye: the others must notice the silence)`);
  const killAt = Date.now();
  victim.proc?.kill('SIGKILL');
  victim.proc = null;
  const ok3 = await until(
    `${victim.id} killed: the others wait for its heartbeats, then convict it`,
    (rs) => row(rs, victim.id).status === 'dead',
    20_000,
  );
  if (stopping) return;
  say(
    ok3
      ? `every agent declared ${victim.id} dead ${((Date.now() - killAt) / 1000).toFixed(1)} s after the kill ` +
          '(phi accrual, threshold 8)'
      : 'not detected in 20 s',
  );
  await hold();

  const oldGeneration = row(lastRows, victim.id).generation;
  say(`restarting ${victim.id}: a new generation, with fresh metadata`);
  start(victim, ['zone=restarted']);
  const ok4 = await until(
    `${victim.id} restarted`,
    (rs) => row(rs, victim.id).status === 'live' && row(rs, victim.id).generation !== oldGeneration,
    15_000,
  );
  if (stopping) return;
  say(
    ok4
      ? `${victim.id} is live again everywhere, ` +
          `generation ${gen(row(lastRows, victim.id).generation)} (was ${gen(oldGeneration)})`
      : 'restart not seen in 15 s',
  );
  storyOk = ok1 && ok2 && ok3 && ok4;

  if (STAY_UP) {
    // The cluster is the newcomer's now: the dashboard to open, agents to kill or query by hand.
    // The table (or, off a terminal, a line per change) goes on following it until a signal.
    say(`cluster is up; dashboard at ${DASHBOARD}; Ctrl-C to stop`);
    storyDone = true;
    await until(`cluster is up; dashboard at ${DASHBOARD}; Ctrl-C to stop`, () => false, Infinity, 1000);
    return;
  }
  caption = 'shutting down';
  say('graceful shutdown of every agent (peers learn at once from the leave message)');
  await stopAgents();
  caption = 'done';
  say('done. Try it yourself: node dist/src/cli/main.js agent --help');
  if (tty) process.stdout.write('\x1b[?25h');
  process.exitCode = storyOk ? 0 : 1;
}

/** Whether every act of the story happened in time; the exit code says it. */
let storyOk = false;
/** The story is over and the cluster stays up: a signal now is the way out, not an interruption. */
let storyDone = false;

/** SIGTERM to every agent (each leaves gracefully), then SIGKILL to any still running after 3 s. */
async function stopAgents(): Promise<void> {
  await Promise.all(
    agents.map(async (a) => {
      const proc = a.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

const killAgents = (): void => {
  for (const a of agents) a.proc?.kill('SIGKILL');
  if (tty) process.stdout.write('\x1b[?25h');
};

/**
 * Ctrl-C or a SIGTERM, at any point: every agent leaves gracefully and the demo says so. Exit status:
 * after the story, the story's (0 when every act happened); during it, 128 + the signal's number. A
 * second signal while the agents leave kills them at once.
 */
function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  if (stopping) {
    killAgents();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }
  stopping = true;
  caption = 'stopping';
  say(`${signal === 'SIGINT' ? 'Ctrl-C' : signal}: every agent leaves gracefully`);
  void stopAgents().then(() => {
    caption = 'stopped';
    say('stopped. Try it yourself: node dist/src/cli/main.js agent --help');
    if (tty) process.stdout.write('\x1b[?25h');
    process.exit(storyDone ? (storyOk ? 0 : 1) : signal === 'SIGINT' ? 130 : 143);
  });
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
main().catch((err: unknown) => {
  // A request to an agent that a signal is stopping may fail: the signal's shutdown finishes the demo.
  if (stopping) return;
  killAgents();
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});

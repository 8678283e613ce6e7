/**
 * `npm start`: a local cluster of real agent processes on loopback, narrated live. Nodes join,
 * a tag spreads, one node is killed with SIGKILL and convicted by every other, then restarts as a
 * new generation; everything shuts down by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClusterState } from '../runtime/api.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5' }, 'base-port': { type: 'string', default: '17400' }, 'interval-ms': { type: 'string', default: '300' } } });
const N = Number(values.nodes);
const BASE = Number(values['base-port']);
const INTERVAL = Number(values['interval-ms']);
if (!Number.isInteger(N) || N < 3 || N > 20) throw new Error('--nodes must be an integer from 3 to 20');

const tty = process.stdout.isTTY === true;
/** Pause between acts on a terminal, so a person can read the table. */
const HOLD = tty ? 2000 : 0;
const t0 = Date.now();
const clock = (): string => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (line: string): void => void process.stdout.write(`${tty ? '\x1b[1m' : ''}[${clock()}] ${line}${tty ? '\x1b[0m' : ''}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Agent {
  id: string;
  gossip: number;
  http: number;
  proc: ChildProcess | null;
}

const agents: Agent[] = Array.from({ length: N }, (_, i) => ({ id: `node-${i + 1}`, gossip: BASE + 2 * i, http: BASE + 2 * i + 1, proc: null }));

function start(a: Agent, tags: string[]): void {
  const args = ['agent', '--bind', `127.0.0.1:${a.gossip}`, '--http', `127.0.0.1:${a.http}`, '--node-id', a.id, '--cluster', 'demo', '--interval-ms', String(INTERVAL), '--log-level', 'silent'];
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

/** Each observer's view: for every node, 'live', 'dead' or absent. */
async function matrix(): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  await Promise.all(
    agents.map(async (a) => {
      const s = await view(a);
      if (!s) return;
      const m = new Map<string, string>();
      for (const x of s.live) m.set(x.id, 'live');
      for (const x of s.dead) if (!m.has(x.id)) m.set(x.id, 'dead');
      out.set(a.id, m);
      for (const x of s.live) if (x.id === 'node-2' && x.metadata.color) m.set('color', x.metadata.color);
    }),
  );
  return out;
}

function draw(m: Map<string, Map<string, string>>, caption: string): void {
  if (!tty) return;
  const cell = (s: string | undefined): string => (s === 'live' ? '\x1b[32m  up  \x1b[0m' : s === 'dead' ? '\x1b[31m DEAD \x1b[0m' : '   ·  ');
  const lines = [`\x1b[2J\x1b[H scuttlebutt demo: ${N} agents on loopback, gossip every ${INTERVAL} ms — ${caption}`, '', ` seen by →  ${agents.map((a) => a.id.replace('node-', 'n').padStart(4).padEnd(6)).join('')}`];
  for (const row of agents) lines.push(` ${row.id.padEnd(10)} ${agents.map((obs) => (m.has(obs.id) ? cell(m.get(obs.id)?.get(row.id)) : '  --  ')).join('')}`);
  const colors = agents.map((a) => m.get(a.id)?.get('color') ?? '-');
  lines.push('', ` node-2's tag color, as each node sees it: ${colors.join(' ')}`, '');
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function until(caption: string, cond: (m: Map<string, Map<string, string>>) => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await matrix();
    draw(m, caption);
    if (cond(m)) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

const everyone = (except?: string) => agents.filter((a) => a.id !== except);

async function main(): Promise<void> {
  say(`starting ${N} agents (real processes, real UDP on 127.0.0.1:${BASE}..${BASE + 2 * N - 1})`);
  for (const a of agents) {
    start(a, [`zone=z${agents.indexOf(a) % 2}`]);
    await sleep(150);
  }
  const ok1 = await until('nodes joining', (m) => everyone().every((o) => everyone().every((r) => m.get(o.id)?.get(r.id) === 'live')), 15_000);
  say(ok1 ? `all ${N} agents see all ${N} as live` : 'cluster did not converge in 15 s');
  await sleep(HOLD);

  const tagAt = Date.now();
  await fetch(`http://127.0.0.1:${(agents[1] as Agent).http}/kv/color`, { method: 'PUT', body: 'green' });
  const ok2 = await until('node-2 sets color=green', (m) => everyone().every((o) => m.get(o.id)?.get('color') === 'green'), 10_000);
  say(ok2 ? `node-2's color=green reached every agent in ${Date.now() - tagAt} ms` : 'the tag did not spread in 10 s');
  await sleep(HOLD);

  const victim = agents[N - 1] as Agent;
  say(`SIGKILL ${victim.id} (no goodbye: the others must notice the silence)`);
  const killAt = Date.now();
  victim.proc?.kill('SIGKILL');
  victim.proc = null;
  const ok3 = await until(`${victim.id} killed`, (m) => everyone(victim.id).every((o) => m.get(o.id)?.get(victim.id) === 'dead'), 20_000);
  say(ok3 ? `every agent declared ${victim.id} dead ${((Date.now() - killAt) / 1000).toFixed(1)} s after the kill (phi accrual, threshold 8)` : 'not detected in 20 s');
  await sleep(HOLD);

  say(`restarting ${victim.id}: a new generation, with fresh metadata`);
  start(victim, ['zone=restarted']);
  const ok4 = await until(`${victim.id} restarted`, (m) => everyone().every((o) => m.get(o.id)?.get(victim.id) === 'live'), 15_000);
  say(ok4 ? `${victim.id} is live again everywhere` : 'restart not seen in 15 s');

  say('graceful shutdown of every agent (peers learn at once from the leave message)');
  for (const a of agents) a.proc?.kill('SIGTERM');
  await sleep(800);
  for (const a of agents) a.proc?.kill('SIGKILL');
  say('done. Try it yourself: node dist/src/cli/main.js agent --help');
  process.exitCode = ok1 && ok2 && ok3 && ok4 ? 0 : 1;
}

const cleanup = (): void => {
  for (const a of agents) a.proc?.kill('SIGKILL');
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main().catch((err: unknown) => {
  cleanup();
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});

/**
 * `node dist/bench/api-cost.js [--nodes N] [--requests R] [--runs K] [--routes a,b] [--json] [-- AGENT FLAGS]`: what
 * one answer of the agent's HTTP API costs the agent, in CPU milliseconds, with N members (default 100). One real
 * agent (dist/src/cli/main.js, on loopback) and N - 1 library nodes in this process joining it; once the agent sees
 * all N live, R sequential requests (default 500) of each route (default members, stats, health, metrics), the
 * agent's CPU (utime + stime from /proc/PID/stat) over them less its idle CPU over the 5 s before, divided by R.
 * Printed: per route, the median over K runs (default 3) of a run's figure, and the answer's size.
 *
 * Why: a dashboard, a load balancer or a benchmark polls every agent's /members, and at 100 members the answer's
 * cost, not the gossip's, can decide how busy a host of agents is.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createScuttlebutt, defaultLanConfig, type Scuttlebutt } from '../src/index.js';
import { median } from './median.js';

const AGENT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    nodes: { type: 'string', default: '100' },
    requests: { type: 'string', default: '500' },
    runs: { type: 'string', default: '3' },
    routes: { type: 'string', default: 'members,stats,health,metrics' },
    base: { type: 'string', default: '31000' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(values.nodes);
const requests = Number(values.requests);
const runs = Number(values.runs);
const base = Number(values.base);
const routes = values.routes.split(',');
/** The agent's --protocol, which the library nodes then speak too (without the gate's hold: they start as one). */
const protocolAt = positionals.indexOf('--protocol');
const protocol = protocolAt >= 0 ? Number(positionals[protocolAt + 1]) : undefined;
if (!(n >= 1 && requests >= 1 && runs >= 1 && base > 0 && base + n < 65_536))
  throw new Error('--nodes, --requests, --runs must be positive and --base + --nodes a port');

/** Milliseconds of CPU (user + system) `pid` has used, from /proc/PID/stat (10 ms ticks). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await cond().catch(() => false))) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(200);
  }
}

interface RouteCost {
  msPerRequest: number;
  bytes: number;
}

async function oneRun(): Promise<Record<string, RouteCost>> {
  const http = `http://127.0.0.1:${base}`;
  const agent = spawn(
    process.execPath,
    [AGENT, 'agent', '--bind', `127.0.0.1:${base + 1}`, '--http', `127.0.0.1:${base}`, '--node-id', 'agent'].concat([
      '--log-level',
      'silent',
      ...positionals,
    ]),
    { stdio: 'inherit' },
  );
  const nodes: Scuttlebutt[] = [];
  try {
    await until(async () => (await fetch(`${http}/health`), true), 30_000, 'the agent answers');
    for (let i = 2; i <= n; i++) {
      const address = `127.0.0.1:${base + i}`;
      const config = defaultLanConfig({ node: { id: `node-${i}`, gossipPublicAddress: address } });
      const node = await createScuttlebutt(
        { ...config, listenAddress: address, ...(protocol === 7 ? { liveness: { protocol, gateHoldMs: 0 } } : {}) },
        { zone: 'a', role: 'web' },
      );
      nodes.push(node);
      await node.join([`127.0.0.1:${base + 1}`]);
    }
    const live = async (): Promise<number> =>
      ((await (await fetch(`${http}/members`)).json()) as { live: unknown[] }).live.length;
    await until(async () => (await live()) >= n, 120_000, `the agent sees ${n} live`);
    const pid = agent.pid as number;
    const out: Record<string, RouteCost> = {};
    for (const route of routes) {
      const idleFrom = cpuMs(pid);
      const idleStart = performance.now();
      await sleep(5000);
      const idlePerMs = (cpuMs(pid) - idleFrom) / (performance.now() - idleStart);
      let bytes = 0;
      const from = cpuMs(pid);
      const start = performance.now();
      for (let r = 0; r < requests; r++) bytes = (await (await fetch(`${http}/${route}`)).arrayBuffer()).byteLength;
      const busy = cpuMs(pid) - from - idlePerMs * (performance.now() - start);
      out[route] = { msPerRequest: Math.max(0, busy) / requests, bytes };
    }
    return out;
  } finally {
    agent.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.leave().catch(() => undefined)));
  }
}

const all: Record<string, RouteCost>[] = [];
for (let r = 0; r < runs; r++) {
  all.push(await oneRun());
  if (!values.json) process.stdout.write(`run ${r + 1}: ${JSON.stringify(all.at(-1))}\n`);
}
const result = Object.fromEntries(
  routes.map((route) => [
    route,
    {
      msPerRequest: Math.round(median(all.map((a) => (a[route] as RouteCost).msPerRequest)) * 100) / 100,
      bytes: median(all.map((a) => (a[route] as RouteCost).bytes)),
    },
  ]),
);
process.stdout.write(values.json ? `${JSON.stringify({ nodes: n, requests, runs, routes: result })}\n` : '');
if (!values.json)
  for (const [route, c] of Object.entries(result))
    process.stdout.write(`${route}: ${c.msPerRequest} ms of the agent's CPU per answer, ${c.bytes} bytes\n`);

/**
 * `node dist/bench/memory.js [--scenario agents|sim] [--minutes N] [--json]`: memory under a steady
 * write load, sampled once a minute.
 *
 * agents (default): 10 agents on loopback (LAN defaults); 3 of them take `PUT /kv/keyK` ten times a
 *   second each over `--keys` keys (default 50) of `--value-bytes` (default 200) values. Per minute:
 *   each agent's RSS (/proc/PID/status) and V8 heap used and total (its /metrics), summarised for
 *   the writers and the other agents, and the largest change from the agent's idle RSS (taken after
 *   the join, before the first write). `--agent-arg=--event-buffer-bytes=65536` passes a flag to
 *   every agent; `--node-arg=--heapsnapshot-signal=SIGUSR2` one to their node.
 * sim: `--nodes` (default 100) protocol cores in this process on the simulator's virtual clock and
 *   network (src/sim, no sockets), the same writers and rate; per simulated minute, the heap after a
 *   full collection (run under `node --expose-gc`). It also reports the heap of the idle cluster and
 *   with every key written, per member view and per key view. The cores share each value's string
 *   (the simulator hands one message object to every receiver), so the key figure is without its value.
 * library: `--agents` (default 10) runtime nodes (createScuttlebutt, LAN defaults, a 200 ms interval)
 *   in this process on loopback, no HTTP: the heap after a full collection with no node, once all
 *   have joined, and once each has written `--keys` keys of `--value-bytes` and every node holds
 *   them all. Per member view and per key view (value copies included): what docs/tuning.md quotes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SimCluster, UP } from '../src/sim/cluster.js';
import { benchOptions, simConfig } from '../src/sim/options.js';
import { MAX_ENVELOPE_OVERHEAD } from '../src/wire/envelope-sizes.js';
import { DEFAULT_FLOW_CONTROL } from '../src/core/flow-control.js';
import type { ScuttlebuttCore } from '../src/core/core.js';
import type { Scuttlebutt } from '../src/runtime/scuttlebutt.js';
import { procMB } from './proc-status.js';

const AGENT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Options {
  scenario: 'agents' | 'sim' | 'library';
  minutes: number;
  agents: number;
  nodes: number;
  writers: number;
  rate: number;
  keys: number;
  valueBytes: number;
  agentArgs: string[];
  nodeArgs: string[];
  json: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'agents' },
      minutes: { type: 'string', default: '10' },
      agents: { type: 'string', default: '10' },
      nodes: { type: 'string', default: '100' },
      writers: { type: 'string', default: '3' },
      rate: { type: 'string', default: '10' },
      keys: { type: 'string', default: '50' },
      'value-bytes': { type: 'string', default: '200' },
      'agent-arg': { type: 'string', multiple: true, default: [] },
      'node-arg': { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min} (got "${v}")`);
    return n;
  };
  const scenario = values.scenario;
  if (scenario !== 'agents' && scenario !== 'sim' && scenario !== 'library')
    throw new Error(`--scenario must be agents, sim or library (got "${scenario}")`);
  const o: Options = {
    scenario,
    minutes: num('minutes', values.minutes, 0.1),
    agents: num('agents', values.agents, 2),
    nodes: num('nodes', values.nodes, 2),
    writers: num('writers', values.writers, 1),
    rate: num('rate', values.rate, 0.1),
    keys: num('keys', values.keys, 1),
    valueBytes: num('value-bytes', values['value-bytes'], 1),
    agentArgs: values['agent-arg'],
    nodeArgs: values['node-arg'],
    json: values.json,
  };
  if (o.writers > (scenario === 'sim' ? o.nodes : o.agents))
    throw new Error('--writers must not exceed the agents (or nodes)');
  return o;
}

/** A value of exactly `bytes` ASCII bytes that differs from write to write. */
function valueOf(counter: number, bytes: number): string {
  const c = `${counter}:`;
  return (c + 'x'.repeat(Math.max(0, bytes - c.length))).slice(0, bytes);
}

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------------------------------------
// agents

interface RunningAgent {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly gossip: string;
  readonly http: string;
}

async function startAgent(id: string, o: Options, join: string[]): Promise<RunningAgent> {
  const args = [
    ...o.nodeArgs,
    AGENT,
    'agent',
    '--bind',
    '127.0.0.1:0',
    '--http',
    '127.0.0.1:0',
    '--node-id',
    id,
    '--log-level',
    'info',
    ...join.flatMap((j) => ['--join', j]),
    ...o.agentArgs,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${id} did not start in 20 s`)), 20_000);
    const lines: string[] = [];
    // Read stderr to its end so the agent never blocks on a full pipe.
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      if (lines.length < 50) lines.push(l);
      if (/"api":"http:/.test(l)) {
        clearTimeout(timer);
        resolve(l);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent ${id} exited with ${code}: ${lines.join('\n')}`));
    });
  });
  const started = JSON.parse(line) as { bind: string; api: string };
  return { id, proc, gossip: started.bind, http: started.api.replace('http://', '') };
}

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 4 });

function httpCall(
  http: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const [host, port] = http.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port: Number(port),
        method,
        path,
        agent: keepAlive,
        headers: body === undefined ? {} : { 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const rssMB = (pid: number): number => procMB(pid, ['VmRSS'], NaN).VmRSS;

/**
 * The process's anonymous memory (heap, stacks, malloc): RSS less the pages mapped from files, chiefly
 * the node binary's code, which every agent on the host shares.
 */
function anonMB(pid: number): number {
  return procMB(pid, ['Anonymous'], NaN, 'smaps_rollup').Anonymous;
}

/** CPU seconds (user and system) the process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function heapMB(http: string): Promise<{ used: number; total: number }> {
  const { text } = await httpCall(http, 'GET', '/metrics');
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / MB;
  return { used: metric('nodejs_heap_size_used_bytes'), total: metric('nodejs_heap_size_total_bytes') };
}

interface AgentSample {
  id: string;
  writer: boolean;
  rssMB: number;
  anonMB: number;
  heapUsedMB: number;
  heapTotalMB: number;
  cpuSeconds: number;
}

interface Minute {
  minute: number;
  writes: number;
  failedWrites: number;
  agents: AgentSample[];
}

async function runAgents(o: Options): Promise<{ idle: AgentSample[]; minutes: Minute[] }> {
  const agents: RunningAgent[] = [];
  const stop = (): void => {
    for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
  };
  process.on('exit', stop);
  try {
    agents.push(await startAgent('m0', o, []));
    const rest = await Promise.all(
      Array.from({ length: o.agents - 1 }, (_, i) => startAgent(`m${i + 1}`, o, [agents[0]!.gossip])),
    );
    agents.push(...rest);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const views = await Promise.all(
        agents.map(
          async (a) =>
            (JSON.parse((await httpCall(a.http, 'GET', '/members')).text) as { live: unknown[] }).live.length,
        ),
      );
      if (views.every((n) => n === o.agents)) break;
      if (Date.now() > deadline) throw new Error(`agents did not converge in 60 s: ${views.join(',')}`);
      await sleep(250);
    }
    // The writers are spread out, as in the issue: agents 0, 3, 6 of 10.
    const stride = Math.floor(o.agents / o.writers);
    const isWriter = (i: number): boolean => i % stride === 0 && i / stride < o.writers;
    const sample = async (): Promise<AgentSample[]> =>
      Promise.all(
        agents.map(async (a, i) => ({
          id: a.id,
          writer: isWriter(i),
          rssMB: rssMB(a.proc.pid!),
          anonMB: anonMB(a.proc.pid!),
          cpuSeconds: cpuSeconds(a.proc.pid!),
          ...(await heapMB(a.http).then((h) => ({ heapUsedMB: h.used, heapTotalMB: h.total }))),
        })),
      );
    await sleep(10_000);
    const idle = await sample();
    const log = (line: string): void => void (o.json || process.stdout.write(`${line}\n`));
    log(
      `${o.agents} agents, ${o.writers} writers x ${o.rate} writes/s over ${o.keys} keys of ${o.valueBytes} B${o.agentArgs.length ? `, agents given ${o.agentArgs.join(' ')}` : ''}`,
    );
    log(header());
    log(row(0, idle, idle, idle, 0, 0, 1));

    let writes = 0;
    let failed = 0;
    const timers = agents.flatMap((a, i) => {
      if (!isWriter(i)) return [];
      let counter = 0;
      return [
        setInterval(() => {
          const key = `key${counter % o.keys}`;
          httpCall(a.http, 'PUT', `/kv/${key}`, valueOf(counter++, o.valueBytes)).then(
            (r) => {
              if (r.status === 200) writes++;
              else if (failed++ === 0) process.stderr.write(`first failed write: HTTP ${r.status} ${r.text}`);
            },
            (err: Error) => {
              if (failed++ === 0) process.stderr.write(`first failed write: ${err.message}\n`);
            },
          );
        }, 1000 / o.rate),
      ];
    });
    const minutes: Minute[] = [];
    const t0 = Date.now();
    let previous = idle;
    for (let m = 1; m <= Math.ceil(o.minutes); m++) {
      const at = t0 + Math.min(m, o.minutes) * 60_000;
      await sleep(Math.max(0, at - Date.now()));
      const s = await sample();
      minutes.push({ minute: m, writes, failedWrites: failed, agents: s });
      log(row(m, s, idle, previous, writes, failed, (Math.min(m, o.minutes) - (m - 1)) * 60));
      previous = s;
    }
    for (const t of timers) clearInterval(t);
    return { idle, minutes };
  } finally {
    stop();
    keepAlive.destroy();
  }
}

const stat = (xs: number[]): { mean: number; max: number } => ({
  mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length),
  max: Math.max(...xs),
});

function header(): string {
  return [
    'min',
    'writes',
    'writer RSS mean/max',
    'other RSS mean/max',
    'anonymous mean/max',
    'heap used mean/max',
    'heap total mean/max',
    'max RSS - idle',
    'CPU % writer/other',
  ].join(' | ');
}

function row(
  m: number,
  s: AgentSample[],
  idle: AgentSample[],
  previous: AgentSample[],
  writes: number,
  failed: number,
  seconds: number,
): string {
  const w = stat(s.filter((a) => a.writer).map((a) => a.rssMB));
  const r = stat(s.filter((a) => !a.writer).map((a) => a.rssMB));
  const anon = stat(s.map((a) => a.anonMB));
  const hu = stat(s.map((a) => a.heapUsedMB));
  const ht = stat(s.map((a) => a.heapTotalMB));
  const growth = Math.max(...s.map((a, i) => a.rssMB - (idle[i]?.rssMB ?? a.rssMB)));
  const f = (x: { mean: number; max: number }): string => `${x.mean.toFixed(1)}/${x.max.toFixed(1)}`;
  const cpu = (writer: boolean): string =>
    stat(
      s.flatMap((a, i) =>
        a.writer === writer ? [(100 * (a.cpuSeconds - (previous[i]?.cpuSeconds ?? a.cpuSeconds))) / seconds] : [],
      ),
    ).mean.toFixed(1);
  return [
    String(m),
    `${writes}${failed ? ` (${failed} failed)` : ''}`,
    f(w),
    f(r),
    f(anon),
    f(hu),
    f(ht),
    `${growth.toFixed(1)} MB`,
    `${cpu(true)}/${cpu(false)}`,
  ].join(' | ');
}

// ---------------------------------------------------------------------------------------------
// sim

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc)
    throw new Error('run the sim scenario under node --expose-gc (the heap is measured after a full collection)');
  gc();
  gc();
  return process.memoryUsage().heapUsed / MB;
}

interface SimResult {
  nodes: number;
  emptyHeapMB: number;
  idleHeapMB: number;
  bytesPerMemberView: number;
  bytesPerKeyView: number;
  minutes: { minute: number; heapMB: number; rssMB: number; keyViews: number }[];
}

function runSim(o: Options): SimResult {
  const n = o.nodes;
  const log = (line: string): void => void (o.json || process.stdout.write(`${line}\n`));
  const emptyHeapMB = heapAfterGc();
  const base = simConfig(benchOptions({ nodes: n }), 1);
  const sim = new SimCluster({
    ...base,
    payloadBudget: 1400 - MAX_ENVELOPE_OVERHEAD,
    flowControl: DEFAULT_FLOW_CONTROL,
  });
  sim.countBytes = false;
  let live = 0;
  sim.onEvent((_o, e) => void (e.type === 'live' && live++));
  for (let i = 0; i < n; i++) sim.start(i);
  if (!sim.runUntilTrue(() => live >= n * (n - 1), 300_000)) throw new Error('the simulated cluster did not converge');
  sim.runUntil(sim.now + 10_000);
  const idleHeapMB = heapAfterGc();
  const memberViews = n * n;
  const stride = Math.floor(n / o.writers);
  const writers = Array.from({ length: o.writers }, (_, w) => w * stride);
  const keyViews = (): number => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const core = sim.cores[i] as ScuttlebuttCore;
      if (sim.status[i] !== UP) continue;
      for (const w of writers) for (let k = 0; k < o.keys; k++) if (core.versionOf(`node-${w}`, `key${k}`) > 0) total++;
    }
    return total;
  };
  log(
    `${n} simulated cores (no sockets), ${o.writers} writers x ${o.rate} writes/s over ${o.keys} keys of ${o.valueBytes} B, flow control on`,
  );
  log(
    `empty process heap ${emptyHeapMB.toFixed(1)} MB; idle cluster ${idleHeapMB.toFixed(1)} MB: ${round(((idleHeapMB - emptyHeapMB) * MB) / memberViews, 0)} B per member view (${memberViews} views)`,
  );
  log('simulated min | heap after GC | RSS | key views held');
  const counters = writers.map(() => 0);
  const period = 1000 / o.rate;
  const minutes: SimResult['minutes'] = [];
  let next = sim.now;
  let bytesPerKeyView = NaN;
  for (let m = 1; m <= Math.ceil(o.minutes); m++) {
    const end = sim.now + 60_000;
    while (next < end) {
      sim.runUntil(next);
      writers.forEach((w, i) => {
        const c = counters[i]!;
        (sim.cores[w] as ScuttlebuttCore).set(`key${c % o.keys}`, valueOf(c, o.valueBytes), sim.now);
        counters[i] = c + 1;
      });
      next += period;
    }
    sim.runUntil(end);
    const heap = heapAfterGc();
    const views = keyViews();
    bytesPerKeyView = ((heap - idleHeapMB) * MB) / Math.max(1, views);
    minutes.push({ minute: m, heapMB: heap, rssMB: process.memoryUsage().rss / MB, keyViews: views });
    log(`${m} | ${heap.toFixed(1)} MB | ${(process.memoryUsage().rss / MB).toFixed(1)} MB | ${views}`);
  }
  // The simulator hands one message object to every receiver, so the cores share each value's
  // string: this is what a key costs beside its value, which a runtime node decodes into a copy of its own.
  log(
    `per key view (a member's key as one node holds it), value strings shared: ${round(bytesPerKeyView, 0)} B at the end`,
  );
  return {
    nodes: n,
    emptyHeapMB,
    idleHeapMB,
    bytesPerMemberView: ((idleHeapMB - emptyHeapMB) * MB) / memberViews,
    bytesPerKeyView,
    minutes,
  };
}

// ---------------------------------------------------------------------------------------------
// library

async function runLibrary(o: Options): Promise<{
  nodes: number;
  emptyHeapMB: number;
  joinedHeapMB: number;
  writtenHeapMB: number;
  bytesPerMemberView: number;
  bytesPerKeyView: number;
}> {
  const { createScuttlebutt, defaultLanConfig } = await import('../src/index.js');
  const n = o.agents;
  const emptyHeapMB = heapAfterGc();
  const nodes: Scuttlebutt[] = [];
  for (let i = 0; i < n; i++)
    nodes.push(
      await createScuttlebutt(
        defaultLanConfig({ node: { id: `lib-${i}` }, listenAddress: '127.0.0.1:0', gossipIntervalMs: 200 }),
      ),
    );
  try {
    const first = nodes[0]!.boundAddress;
    await Promise.all(nodes.slice(1).map((node) => node.join([first])));
    const until = async (what: string, done: () => boolean): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`library nodes: ${what} not reached in 120 s`);
        await sleep(250);
      }
    };
    await until('full membership', () => nodes.every((node) => node.members({ status: 'live' }).length === n));
    await sleep(5_000);
    const joinedHeapMB = heapAfterGc();
    nodes.forEach((node, i) => {
      for (let k = 0; k < o.keys; k++) node.set(`key${k}`, valueOf(i * o.keys + k, o.valueBytes));
    });
    const held = (): number =>
      nodes.reduce((t, node) => t + node.members().reduce((u, m) => u + Object.keys(m.metadata).length, 0), 0);
    await until('every key everywhere', () => held() === n * n * o.keys);
    await sleep(5_000);
    const writtenHeapMB = heapAfterGc();
    const r = {
      nodes: n,
      emptyHeapMB,
      joinedHeapMB,
      writtenHeapMB,
      bytesPerMemberView: ((joinedHeapMB - emptyHeapMB) * MB) / (n * n),
      bytesPerKeyView: ((writtenHeapMB - joinedHeapMB) * MB) / (n * n * o.keys),
    };
    if (!o.json) {
      process.stdout.write(
        `${n} runtime nodes in one process (LAN defaults, 200 ms interval), ${o.keys} keys of ${o.valueBytes} B each\n`,
      );
      process.stdout.write(
        `heap after GC: no node ${emptyHeapMB.toFixed(1)} MB, joined ${joinedHeapMB.toFixed(1)} MB, keys held everywhere ${writtenHeapMB.toFixed(1)} MB\n`,
      );
      process.stdout.write(
        `per node: ${round(((joinedHeapMB - emptyHeapMB) * 1024) / n, 0)} KB with ${n} members; per member view ${round(r.bytesPerMemberView, 0)} B (nodes x members = ${n * n}); per key view ${round(r.bytesPerKeyView, 0)} B (${n * n * o.keys} views, values included)\n`,
      );
    }
    return r;
  } finally {
    await Promise.all(nodes.map((node) => node.shutdown({ leave: false })));
  }
}

const o = options();
if (o.scenario === 'agents') {
  const r = await runAgents(o);
  if (o.json) process.stdout.write(`${JSON.stringify({ options: o, ...r })}\n`);
} else if (o.scenario === 'library') {
  const r = await runLibrary(o);
  if (o.json) process.stdout.write(`${JSON.stringify({ options: o, ...r })}\n`);
} else {
  const r = runSim(o);
  if (o.json) process.stdout.write(`${JSON.stringify({ options: o, ...r })}\n`);
}

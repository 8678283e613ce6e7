/** Spawns fixture nodes as real processes and watches their JSON-line output. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { defaultLanConfig, type ScuttlebuttConfig, type Stats } from '../../src/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/node.js', import.meta.url));

export interface NodeEvent {
  event: string;
  id?: string;
  generation?: number;
  reason?: string;
  keys?: string[];
  metadata?: Record<string, string>;
  state?: { live: { id: string; generation: number; metadata: Record<string, string> }[]; dead: { id: string }[] };
  /** The node's stats(), as JSON carried it (the fixture prints them). */
  stats?: Stats;
  rate?: number;
  backlog?: number;
  /** User events ('user', 'sent', 'refused'). */
  name?: string;
  payload?: string;
  ltime?: number;
  origin?: string;
  coalesce?: boolean;
  code?: string;
  /** Queries ('answer', 'query-summary', 'query'; name, payload, origin and ltime as above). */
  kind?: string;
  from?: string;
  latencyMs?: number;
  message?: string;
  asked?: number;
  at: number;
}

export class NodeProc {
  readonly events: NodeEvent[] = [];
  readonly child: ChildProcess;
  exited = false;

  /**
   * `prefix` runs the node under another command, e.g. ['ip', 'netns', 'exec', NAME] (which execs, so signals reach
   * node).
   */
  constructor(
    readonly args: Record<string, unknown>,
    readonly prefix: readonly string[] = [],
  ) {
    const argv = [...prefix, process.execPath, FIXTURE, JSON.stringify(args)];
    this.child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.on('exit', () => (this.exited = true));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.events.push({ ...(JSON.parse(line) as object), at: Date.now() } as NodeEvent);
      } catch {
        /* not ours */
      }
    });
  }

  get id(): string {
    return this.args.id as string;
  }

  command(cmd: object): void {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  async query<K extends 'state' | 'stats'>(kind: K): Promise<NodeEvent> {
    const before = this.events.length;
    this.command({ cmd: kind });
    await waitFor(() => this.events.slice(before).some((e) => e.event === kind), 5000, `${this.id} ${kind}`);
    return this.events.slice(before).find((e) => e.event === kind) as NodeEvent;
  }

  has(pred: (e: NodeEvent) => boolean): boolean {
    return this.events.some(pred);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Test ports stay below the kernel's ephemeral range, from which outgoing connections (HTTP polls, streams) take
 * their local ports: a node's TCP listener on a port inside it can find the port taken (EADDRINUSE).
 */
const PORT_LOW = 20_000;
const PORT_HIGH = Math.max(PORT_LOW + 2_000, ephemeralLow());
let nextPort = PORT_LOW + ((process.pid * 10) % (PORT_HIGH - PORT_LOW));

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Ports unlikely to collide between test files running one after another, all below the ephemeral range. */
export function freePorts(n: number): number[] {
  if (nextPort + n > PORT_HIGH) nextPort = PORT_LOW;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(nextPort++);
  return out;
}

/** Starts nodes, all seeded with the first; waits until each printed ready. */
export async function startCluster(
  n: number,
  extra: (i: number) => Record<string, unknown> = () => ({}),
): Promise<NodeProc[]> {
  const ports = freePorts(n);
  const procs = ports.map(
    (port, i) =>
      new NodeProc({
        id: `n${i}`,
        port,
        seeds: i === 0 ? [] : [`127.0.0.1:${ports[0]}`],
        metadata: { idx: String(i) },
        ...extra(i),
      }),
  );
  await waitFor(() => procs.every((p) => p.has((e) => e.event === 'ready')), 15_000, 'all nodes ready');
  return procs;
}

export function killAll(procs: NodeProc[]): void {
  for (const p of procs) p.kill('SIGKILL');
}

/** A process's live members' ids, sorted. */
export const liveIds = async (p: NodeProc): Promise<string[]> =>
  ((await p.query('state')).state?.live ?? []).map((m) => m.id).sort();

/** Waits until every process sees exactly these processes live; throws with their views past `timeoutMs`. */
export async function converged(procs: NodeProc[], timeoutMs = 10_000): Promise<void> {
  const want = procs
    .map((p) => p.id)
    .sort()
    .join(',');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(procs.map(liveIds));
    if (views.every((v) => v.join(',') === want)) return;
    if (Date.now() > deadline) throw new Error(`not converged: ${JSON.stringify(views)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A library node's configuration on loopback `port`, 100 ms rounds (the in-process tests' cluster). */
export const loopbackConfig = (id: string, port: number): ScuttlebuttConfig =>
  defaultLanConfig({
    node: { id, gossipPublicAddress: `127.0.0.1:${port}` },
    listenAddress: `127.0.0.1:${port}`,
    gossipIntervalMs: 100,
  });

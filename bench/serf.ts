/**
 * `npm run bench:serf -- --nodes N [--json] [--key-file PATH]`: N serf agents (LAN profile) and N of our agents
 * (LAN defaults) on loopback, measured the same way in the same run:
 *   join convergence  from the last agent started until every agent sees all N alive;
 *   detection         from kill -9 of one agent until every other sees it failed/dead;
 *   bytes/s per node  loopback bytes over a steady window (after a settling time), divided by N;
 *   CPU and RSS       per agent, from /proc.
 * Each side runs in a network namespace of its own (when root) so its loopback counters are its own.
 * Views are polled every 25 ms (`--poll-ms`): serf over its RPC (msgpack on TCP), ours over the agent's HTTP API.
 * Every agent is asked each time, so at 100 agents the poll itself is a large share of two cores (ours answer
 * /members in about 1.3 ms of CPU, docs/benchmarks.md); a longer period leaves the host to the agents, at the
 * cost of the join's and detection's resolution, alike for both sides.
 * `--key-file`: our agents gossip with that keyring (serf stays plaintext); ours then also reports
 * packets per node per second, and what the replay windows saw (deepest reordering, drops).
 * `--flow-control on|off`: our agents' flow control (default on), to compare what it costs.
 * `--protocol 6|7`: our agents' failure detection (default 6; 7: beats to neighbours and signed reports, the
 * agent's `--protocol 7` with the gate's default hold: the join is a fresh cluster's, in mode 6, and the windows
 * after it wait until every agent runs mode 7).
 * `--events K` (default 9, 0 for none): after the steady window, K user events without and K with coalescing,
 * and K queries, timed to every agent's handler and to every answer (bench/serf-events.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeMulti, encode } from '@msgpack/msgpack';
import { eventRatios, eventsTable, handlerFlags, measureEvents, type EventsResult } from './serf-events.js';
import { procMB } from './proc-status.js';

const AGENT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
/** How often every agent's view is read (`--poll-ms`; the side processes get it from their parent). */
let POLL_MS = 25;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Seconds to wait after join convergence before counting, and seconds counted. */
interface Windows {
  steadyS: number;
  settleS: number;
  /** Our agents' --key-file, if any. */
  keyFile?: string;
  /** Our agents' --flow-control (default on). */
  flowControl?: 'on' | 'off';
  /** Our agents' --protocol (default: the agent's, 6). */
  protocol?: '6' | '7';
  /** User events (of each kind) and queries to time after the steady window; 0 for none. */
  events: number;
}

/** Ours only: packet rate and what the replay windows saw over the steady window. */
interface OursExtra {
  packetsPerNodePerSecond: number;
  deepestReorder: number | null;
  replayDrops: number;
}

interface SideResult {
  side: 'serf' | 'ours';
  nodes: number;
  joinSeconds: number;
  detectionSeconds: number;
  bytesPerNodePerSecond: number;
  cpuPercentPerAgent: number;
  rssMBPerAgent: number;
  falseDeaths: number;
  extra?: OursExtra;
  events?: EventsResult;
}

/** One agent's view: the set of members it sees alive, and those it sees failed/dead. */
interface Viewer {
  alive(): Promise<Set<string>>;
  failed(): Promise<Set<string>>;
  close(): void;
}

class SerfRpc implements Viewer {
  private socket: Socket;
  private buf = Buffer.alloc(0);
  private seq = 0;
  private waiter: (() => void) | null = null;
  private cache: { at: number; members: { Name: string; Status: string }[] } | null = null;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.socket.on('error', () => {});
  }

  static async open(port: number): Promise<SerfRpc> {
    for (let attempt = 0; ; attempt++) {
      const rpc = new SerfRpc(port);
      try {
        await new Promise<void>((resolve, reject) => {
          rpc.socket.once('connect', () => resolve());
          rpc.socket.once('error', reject);
        });
        await rpc.call('handshake', { Version: 1 }, 1);
        return rpc;
      } catch (err) {
        rpc.close();
        if (attempt > 200) throw err;
        await sleep(25);
      }
    }
  }

  /** Sends a command; resolves with the decoded response objects (header, then body if any). */
  private async call(command: string, body: unknown, objects: number): Promise<unknown[]> {
    const seq = this.seq++;
    this.buf = Buffer.alloc(0);
    this.socket.write(encode({ Command: command, Seq: seq }));
    if (body !== undefined) this.socket.write(encode(body));
    for (;;) {
      const got: unknown[] = [];
      try {
        for (const o of decodeMulti(this.buf)) got.push(o);
      } catch {
        /* a partial object: wait for more bytes */
      }
      if (got.length >= objects) {
        const header = got[0] as { Error?: string };
        if (header.Error) throw new Error(`serf rpc ${command}: ${header.Error}`);
        return got;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  private async members(): Promise<{ Name: string; Status: string }[]> {
    if (this.cache && Date.now() - this.cache.at < POLL_MS / 2) return this.cache.members;
    const [, body] = await this.call('members', undefined, 2);
    const members = (body as { Members: { Name: string; Status: string }[] }).Members;
    this.cache = { at: Date.now(), members };
    return members;
  }

  async alive(): Promise<Set<string>> {
    return new Set((await this.members()).filter((m) => m.Status === 'alive').map((m) => m.Name));
  }

  async failed(): Promise<Set<string>> {
    return new Set((await this.members()).filter((m) => m.Status === 'failed').map((m) => m.Name));
  }

  close(): void {
    this.socket.destroy();
  }
}

class OurApi implements Viewer {
  private cache: { at: number; state: { live: { id: string }[]; dead: { id: string }[] } } | null = null;

  constructor(private readonly port: number) {}

  /** Resolves once the agent's API answers (a Node process takes a few hundred ms to start). */
  static async open(port: number): Promise<OurApi> {
    const api = new OurApi(port);
    await until(async () => (await api.state(), true), 30_000, `agent API on ${port}`);
    return api;
  }

  private async state(): Promise<{ live: { id: string }[]; dead: { id: string }[] }> {
    if (this.cache && Date.now() - this.cache.at < POLL_MS / 2) return this.cache.state;
    const res = await fetch(`http://127.0.0.1:${this.port}/members`);
    const state = (await res.json()) as { live: { id: string }[]; dead: { id: string }[] };
    this.cache = { at: Date.now(), state };
    return state;
  }

  async alive(): Promise<Set<string>> {
    return new Set((await this.state()).live.map((m) => m.id));
  }

  async failed(): Promise<Set<string>> {
    return new Set((await this.state()).dead.map((m) => m.id));
  }

  close(): void {}
}

function loopbackTxBytes(): number {
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('lo:'));
  if (!line) throw new Error('no loopback interface in /proc/net/dev');
  const fields = line.trim().split(/\s+/);
  return Number(fields[9]); // lo: rx_bytes rx_packets ... (8 rx fields) then tx_bytes
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100 Hz)
}

const rssMB = (pid: number): number => procMB(pid, ['VmRSS'], 0).VmRSS;

/** Which agent misses which members (and sees them failed), for a join that did not form. */
async function whoMisses(viewers: readonly Viewer[], names: readonly string[]): Promise<string> {
  const lines: string[] = [];
  for (const [i, v] of viewers.entries()) {
    const [alive, failed] = await Promise.all([v.alive(), v.failed()]);
    const missing = names.filter((m) => !alive.has(m));
    if (missing.length === 0) continue;
    const shown = missing.slice(0, 8).map((m) => (failed.has(m) ? `${m} (failed)` : m));
    lines.push(`${names[i]} misses ${shown.join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`);
  }
  return lines.length === 0 ? 'every agent sees all now' : lines.join('; ');
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await cond().catch(() => false)) return (Date.now() - start) / 1000;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(POLL_MS);
  }
}

interface OurStats {
  packetsOut: number;
  dropped: Record<string, number>;
  replayWindows?: { deepestReorder: number };
  liveness?: { mode: 6 | 7; fallbacks: number };
}
const ourStats = async (port: number): Promise<OurStats> =>
  (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as OurStats;

async function runSide(
  side: 'serf' | 'ours',
  n: number,
  { steadyS, settleS, keyFile, flowControl, protocol, events }: Windows,
): Promise<SideResult> {
  const handlerDir = mkdtempSync(join(tmpdir(), `sb-serf-${side}-`));
  const base = side === 'serf' ? 27_000 : 28_000;
  const names = Array.from({ length: n }, (_, i) => `${side}-${i}`);
  const procs: ChildProcess[] = [];
  const viewers: Viewer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const gossip = base + 2 * i;
      const api = base + 2 * i + 1;
      const args =
        side === 'serf'
          ? [
              'agent',
              '-profile=lan',
              `-bind=127.0.0.1:${gossip}`,
              `-rpc-addr=127.0.0.1:${api}`,
              `-node=${names[i]}`,
              '-log-level=err',
              ...(events > 0 ? handlerFlags('serf', handlerDir, names[i] as string) : []),
              ...(i > 0 ? [`-join=127.0.0.1:${base}`] : []),
            ]
          : [
              AGENT,
              'agent',
              '--bind',
              `127.0.0.1:${gossip}`,
              '--http',
              `127.0.0.1:${api}`,
              '--node-id',
              names[i] as string,
              '--log-level',
              'silent',
              ...(keyFile ? ['--key-file', keyFile] : []),
              ...(flowControl ? ['--flow-control', flowControl] : []),
              ...(protocol ? ['--protocol', protocol] : []),
              ...(events > 0 ? handlerFlags('ours', handlerDir, names[i] as string) : []),
              ...(i > 0 ? ['--join', `127.0.0.1:${base}`] : []),
            ];
      procs.push(spawn(side === 'serf' ? 'serf' : process.execPath, args, { stdio: 'ignore' }));
      if (i === 0) await sleep(300); // the seed must be listening before the others join it
    }
    // The clock starts when every agent is up and answering, for both sides alike.
    for (let i = 0; i < n; i++)
      viewers.push(side === 'serf' ? await SerfRpc.open(base + 2 * i + 1) : await OurApi.open(base + 2 * i + 1));
    const all = async (): Promise<boolean> =>
      (await Promise.all(viewers.map((v) => v.alive()))).every((s) => s.size === n);
    const joinSeconds = await until(all, 60_000, `${side}: all ${n} agents see all ${n}`).catch(async (err) => {
      throw new Error(`${(err as Error).message}; ${await whoMisses(viewers, names)}`);
    });
    // Protocol 7 as a user gets it: a fresh cluster forms in mode 6 and switches once every member has spoken 7 for
    // the gate's hold (30 s). The windows below measure mode 7, so they start once every agent runs it.
    if (side === 'ours' && protocol === '7') {
      const apis = names.map((_, i) => base + 2 * i + 1);
      const inMode7 = async (): Promise<boolean> =>
        (await Promise.all(apis.map(ourStats))).every((st) => st.liveness?.mode === 7);
      await until(inMode7, 120_000, `${side}: all ${n} agents in protocol 7's liveness`);
    }

    // Both sides settle before bytes are counted: a cold start of ours sends above its steady rate
    // for about 20 s, serf's is flat from the start.
    await sleep(settleS * 1000);
    const pids = procs.map((p) => p.pid as number);
    const cpu0 = pids.map(cpuSeconds);
    const apis = names.map((_, i) => base + 2 * i + 1);
    const stats0 = side === 'ours' ? await Promise.all(apis.map(ourStats)) : [];
    const tx0 = loopbackTxBytes();
    const t0 = Date.now();
    await sleep(steadyS * 1000);
    const elapsed = (Date.now() - t0) / 1000;
    const bytes = loopbackTxBytes() - tx0;
    let extra: OursExtra | undefined;
    if (side === 'ours') {
      const stats1 = await Promise.all(apis.map(ourStats));
      const replayDrops = (s: OurStats): number =>
        (s.dropped['envelope:replayed'] ?? 0) + (s.dropped['envelope:below-window'] ?? 0);
      extra = {
        packetsPerNodePerSecond:
          stats1.reduce((k, s, i) => k + s.packetsOut - (stats0[i] as OurStats).packetsOut, 0) / elapsed / n,
        deepestReorder: stats1.some((s) => s.replayWindows)
          ? Math.max(...stats1.map((s) => s.replayWindows?.deepestReorder ?? 0))
          : null,
        replayDrops: stats1.reduce((k, s) => k + replayDrops(s), 0),
      };
    }
    const cpu = pids.map((p, i) => (cpuSeconds(p) - (cpu0[i] as number)) / elapsed);
    const rss = pids.map(rssMB);
    // After the steady window, so that neither the bytes nor the CPU above count the events' traffic.
    const eventsResult = events > 0 ? await measureEvents(side, apis, names, handlerDir, events) : undefined;

    const victim = n - 1;
    procs[victim]!.kill('SIGKILL');
    const others = viewers.slice(0, victim);
    const detectionSeconds = await until(
      async () => (await Promise.all(others.map((v) => v.failed()))).every((s) => s.has(names[victim] as string)),
      60_000,
      `${side}: kill -9 seen by all`,
    );
    const falseDeaths = (await Promise.all(others.map((v) => v.failed()))).reduce(
      (k, s) => k + [...s].filter((x) => x !== names[victim]).length,
      0,
    );
    return {
      side,
      nodes: n,
      joinSeconds,
      detectionSeconds,
      bytesPerNodePerSecond: bytes / elapsed / n,
      cpuPercentPerAgent: (100 * cpu.reduce((a, b) => a + b, 0)) / n,
      rssMBPerAgent: rss.slice(0, victim).reduce((a, b) => a + b, 0) / victim,
      falseDeaths,
      ...(extra ? { extra } : {}),
      ...(eventsResult ? { events: eventsResult } : {}),
    };
  } finally {
    for (const v of viewers) v.close();
    for (const p of procs) p.kill('SIGKILL');
    rmSync(handlerDir, { recursive: true, force: true });
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Runs one side in a fresh network namespace (root), else in this one; returns its result. */
function runIsolated(side: 'serf' | 'ours', n: number, w: Windows): SideResult {
  const cmd = [
    process.execPath,
    SELF,
    '--side',
    side,
    '--nodes',
    String(n),
    '--steady-s',
    String(w.steadyS),
    '--settle-s',
    String(w.settleS),
    '--events',
    String(w.events),
    '--poll-ms',
    String(POLL_MS),
    ...(w.keyFile ? ['--key-file', w.keyFile] : []),
    ...(w.flowControl ? ['--flow-control', w.flowControl] : []),
    ...(w.protocol ? ['--protocol', w.protocol] : []),
  ];
  if (!isRoot())
    return JSON.parse(
      execFileSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
    ) as SideResult;
  const ns = `sbs-${process.pid}-${side}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return JSON.parse(
      execFileSync('ip', ['netns', 'exec', ns, ...cmd], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        timeout: 600_000,
      }),
    ) as SideResult;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
      side: { type: 'string' },
      'steady-s': { type: 'string', default: '30' },
      'settle-s': { type: 'string', default: '20' },
      'key-file': { type: 'string' },
      'flow-control': { type: 'string' },
      protocol: { type: 'string' },
      events: { type: 'string', default: '9' },
      'poll-ms': { type: 'string', default: '25' },
    },
  });
  POLL_MS = Number(values['poll-ms']);
  if (!(POLL_MS >= 1))
    throw new Error(`--poll-ms must be a positive number of milliseconds (got "${values['poll-ms']}")`);
  const n = Number(values.nodes);
  const windows: Windows = {
    steadyS: Number(values['steady-s']),
    settleS: Number(values['settle-s']),
    events: Number(values.events),
    ...(values['key-file'] ? { keyFile: resolve(values['key-file']) } : {}),
  };
  const fc = values['flow-control'];
  if (fc !== undefined && fc !== 'on' && fc !== 'off')
    throw new Error(`--flow-control must be on or off (got "${fc}")`);
  if (fc) windows.flowControl = fc;
  const protocol = values.protocol;
  if (protocol !== undefined && protocol !== '6' && protocol !== '7')
    throw new Error(`--protocol must be 6 or 7 (got "${protocol}")`);
  if (protocol) windows.protocol = protocol;
  if (!(windows.steadyS > 0) || !(windows.settleS >= 0))
    throw new Error(
      `--steady-s must be > 0 and --settle-s >= 0 (got "${values['steady-s']}", "${values['settle-s']}")`,
    );
  if (!Number.isInteger(windows.events) || windows.events < 0)
    throw new Error(`--events must be an integer >= 0 (got "${values.events}")`);
  if (!Number.isInteger(n) || n < 3 || n > 200)
    throw new Error(`--nodes must be an integer from 3 to 200 (got "${values.nodes}")`);
  if (values.side === 'serf' || values.side === 'ours') {
    process.stdout.write(`${JSON.stringify(await runSide(values.side, n, windows))}\n`);
    return;
  }
  try {
    execFileSync('serf', ['version'], { stdio: 'ignore' });
  } catch {
    process.stderr.write(
      'serf is not installed. On Debian or Ubuntu: apt-get install serf (or run .ci/setup-system.sh as root).\n',
    );
    process.exit(1);
  }
  const serf = runIsolated('serf', n, windows);
  const ours = runIsolated('ours', n, windows);
  const ratio = (k: keyof SideResult): number => (ours[k] as number) / (serf[k] as number);
  const events = ours.events && serf.events ? { ours: ours.events, serf: serf.events } : null;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ nodes: n, ours, serf, oursOverSerf: { joinSeconds: ratio('joinSeconds'), detectionSeconds: ratio('detectionSeconds'), bytesPerNodePerSecond: ratio('bytesPerNodePerSecond'), cpuPercentPerAgent: ratio('cpuPercentPerAgent'), rssMBPerAgent: ratio('rssMBPerAgent'), ...(events ? eventRatios(events.ours, events.serf) : {}) } })}\n`,
    );
    return;
  }
  const row = (r: SideResult): string =>
    `${r.side.padEnd(5)} ${r.joinSeconds.toFixed(2).padStart(8)} ${r.detectionSeconds.toFixed(2).padStart(10)} ${Math.round(r.bytesPerNodePerSecond).toString().padStart(12)} ${r.cpuPercentPerAgent.toFixed(2).padStart(8)} ${r.rssMBPerAgent.toFixed(1).padStart(8)} ${String(r.falseDeaths).padStart(6)}`;
  process.stdout.write(
    [
      `${n} agents per side, loopback${isRoot() ? ', each side in its own network namespace' : ''}`,
      'side   join(s) detect(s) bytes/node/s   cpu(%)   rss(MB) false',
      row(serf),
      row(ours),
      `ours/serf ${ratio('joinSeconds').toFixed(2)} ${ratio('detectionSeconds').toFixed(2)} ${ratio('bytesPerNodePerSecond').toFixed(2)} ${ratio('cpuPercentPerAgent').toFixed(2)} ${ratio('rssMBPerAgent').toFixed(2)}`,
      ...(events ? ['', ...eventsTable(events.ours, events.serf)] : []),
    ].join('\n') + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:serf: ${(err as Error).message}\n`);
  process.exit(1);
});

/**
 * Agents of two builds on loopback, for the upgrade tests: a previous release (releases.ts), and
 * this tree's; their HTTP views polled for convictions and consistency.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../runtime/procs.js';

const POLL_MS = 50;

export const NEW_AGENT = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Member {
  id: string;
  generation: number;
  status: string;
  metadata: Record<string, string>;
}
export interface View {
  self: Member;
  live: Member[];
  dead: Member[];
}
/** stats().liveness of this tree's agent (src/runtime/api.ts LivenessStats); absent from earlier releases. */
export interface AgentLiveness {
  protocol: 6 | 7;
  mode: 6 | 7;
  notSpeaking: number;
  notReady: number;
  switches: number;
  fallbacks: number;
  refused: Record<string, number>;
}
export interface AgentStats {
  dropped: Record<string, number>;
  bytesOut: number;
  bytesIn: number;
  packetsOutByVersion?: Record<string, number>;
  packetsInByVersion?: Record<string, number>;
  liveness?: AgentLiveness;
}

export class Agent {
  proc: ChildProcess | null = null;
  generation = 0;
  build: 'old' | 'new' = 'old';
  /** What this process was given: its tags and the keys set on it since it started. */
  metadata: Record<string, string> = {};
  stderr = '';
  private stopping = false;

  constructor(
    readonly i: number,
    readonly port: number,
    readonly http: number,
    /** Gossip interval, and arguments added to every start (a key file). */
    readonly intervalMs = 200,
    readonly extraArgs: readonly string[] = [],
  ) {}

  get id(): string {
    return `u${this.i}`;
  }

  /** `flags`: for this start only (a flag of this tree's agent that an earlier release would refuse). */
  async start(agentPath: string, build: 'old' | 'new', seeds: number[], flags: readonly string[] = []): Promise<void> {
    this.build = build;
    this.metadata = { idx: String(this.i), role: this.i % 2 === 0 ? 'api' : 'db' };
    const args = [
      agentPath,
      'agent',
      '--bind',
      `127.0.0.1:${this.port}`,
      '--http',
      `127.0.0.1:${this.http}`,
      '--node-id',
      this.id,
      '--interval-ms',
      String(this.intervalMs),
      '--log-level',
      'warn',
      ...this.extraArgs,
      ...flags,
    ];
    for (const [k, v] of Object.entries(this.metadata)) args.push('--tag', `${k}=${v}`);
    if (seeds.length > 0) args.push('--join', seeds.map((p) => `127.0.0.1:${p}`).join(','));
    this.stderr = '';
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc = proc;
    await waitFor(
      async () => (await this.view().catch(() => null)) !== null,
      10_000,
      `${this.id} (${build}) answers`,
    ).catch((err: Error) => {
      // Why it never answered (a crash, a port still held) is on its stderr.
      throw new Error(`${err.message}; exit code ${String(proc.exitCode)}; stderr: ${this.stderr.slice(-2000)}`);
    });
    this.generation = ((await this.view()) as View).self.generation;
  }

  /** SIGTERM: the agent leaves gracefully. SIGKILL after 10 s, said in the returned note (never seen so far). */
  async stop(): Promise<string | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return null;
    this.stopping = true; // no more polls: it is leaving
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const late = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), 10_000)),
    ]);
    if (late) {
      proc.kill('SIGKILL');
      await exited;
    }
    this.proc = null;
    this.stopping = false;
    return late ? `${this.id} did not exit within 10 s of SIGTERM: killed` : null;
  }

  kill(): void {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && !this.stopping;
  }

  /**
   * One request on its own connection (Connection: close). A kept-alive connection from the watcher's
   * polls would hold the agent's HTTP server open when it shuts down.
   */
  call(method: 'GET' | 'PUT', path: string, body?: string): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.http, path, method, agent: false, timeout: 2000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown });
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${this.id}: no answer to ${method} ${path} in 2 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async get(path: string): Promise<unknown> {
    return (await this.call('GET', path)).json;
  }

  view(): Promise<View> {
    return this.get('/members') as Promise<View>;
  }

  stats(): Promise<AgentStats> {
    return this.get('/stats') as Promise<AgentStats>;
  }

  async set(key: string, value: string): Promise<void> {
    const res = await this.call('PUT', `/kv/${encodeURIComponent(key)}`, value);
    assert.equal(res.status, 200, `${this.id} set ${key}`);
    this.metadata[key] = value;
  }
}

/**
 * Polls every running agent's view. A conviction is a member seen dead by an observer while the
 * process of that generation was running and had not been asked to stop.
 */
export class Watcher {
  readonly convictions: string[] = [];
  private readonly stopping = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly agents: Agent[]) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The agent's current generation may now be seen dead (it is being stopped). */
  releasing(a: Agent): void {
    this.stopping.add(`${a.id}/${a.generation}`);
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const up = new Set(this.agents.filter((a) => a.running).map((a) => `${a.id}/${a.generation}`));
      await Promise.all(
        this.agents
          .filter((a) => a.running)
          .map(async (observer) => {
            const view = await observer.view().catch(() => null);
            if (!view) return;
            for (const m of view.dead) {
              const key = `${m.id}/${m.generation}`;
              if (up.has(key) && !this.stopping.has(key))
                this.convictions.push(`${observer.id} (${observer.build}) convicted ${key}`);
            }
          }),
      );
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Every running agent sees every running agent's current generation live, with exactly its metadata. A
 * protocol-7 agent advertises itself in reserved keys (U+0000 first: speaks, ready, its report-signing key);
 * this tree hides them from views, an earlier release shows them as ordinary metadata
 * (docs/design/liveness-7.md, "The gate"), so they are left out of what an old agent's view is compared on.
 */
export async function consistent(agents: Agent[]): Promise<boolean> {
  const running = agents.filter((a) => a.running);
  const views = await Promise.all(running.map((a) => a.view().catch(() => null)));
  return views.every((v, i) => {
    if (!v) return false;
    const old = running[i]?.build === 'old';
    return running.every((a) => {
      const m = v.live.find((x) => x.id === a.id && x.generation === a.generation);
      return m !== undefined && JSON.stringify(sorted(m.metadata, old)) === JSON.stringify(sorted(a.metadata, false));
    });
  });
}

const sorted = (o: Record<string, string>, withoutReserved: boolean): [string, string][] =>
  Object.entries(o)
    .filter(([k]) => !withoutReserved || !k.startsWith('\u0000'))
    .sort(([a], [b]) => a.localeCompare(b));

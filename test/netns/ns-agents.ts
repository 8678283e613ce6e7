/**
 * `scuttlebutt agent` processes on the hosts of a TestBed, with their HTTP API (127.0.0.1 inside the
 * host) reached from the test through a Unix socket (unix-forward.ts), and the CLI's client commands
 * run inside the host as a user there would run them.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sse } from '../../src/cli/client.js';
import { GOSSIP_PORT, type TestBed } from './testbed.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const FORWARD = fileURLToPath(new URL('./unix-forward.js', import.meta.url));
export const HTTP_PORT = 7946;

export interface SseEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
  /** When the test received it (ms since the epoch). */
  readonly at: number;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Gives host i a second address on its subnet (.100 + i), as a machine moved to a new address; returns it. */
export function addAddress(bed: TestBed, i: number): string {
  const ip = (bed.addresses[i] as string).replace(/\.\d+$/, `.${100 + i}`);
  execFileSync('ip', ['-n', bed.hosts[i] as string, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  return ip;
}

export class NsAgent {
  readonly stderr: string[] = [];
  /** Everything this agent's /events stream carried since it was opened (see `watch`). */
  readonly events: SseEvent[] = [];
  readonly exited: Promise<number | null>;
  private forward: ChildProcess | null = null;
  private stream: ReturnType<typeof request> | null = null;

  private constructor(
    readonly bed: TestBed,
    readonly index: number,
    readonly proc: ChildProcess,
    readonly socket: string,
    /** The UDP "host:port" it gossips on. */
    readonly address: string,
  ) {
    this.exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  }

  get id(): string {
    return `h${this.index}`;
  }

  private get host(): string {
    return this.bed.hosts[this.index] as string;
  }

  /**
   * Starts the agent of host i (id hI, gossip on the host's address, 200 ms rounds) with these extra
   * flags; resolves once its API answers through the Unix socket in `dir`. `ip`: another address of
   * the host to gossip on (see `addAddress`).
   */
  static async start(
    bed: TestBed,
    i: number,
    flags: readonly string[],
    dir: string,
    ip = bed.addresses[i] as string,
  ): Promise<NsAgent> {
    const host = bed.hosts[i] as string;
    const args = [
      'netns',
      'exec',
      host,
      process.execPath,
      MAIN,
      'agent',
      '--bind',
      `${ip}:${GOSSIP_PORT}`,
      '--http',
      `127.0.0.1:${HTTP_PORT}`,
      '--node-id',
      `h${i}`,
      '--interval-ms',
      '200',
      '--insecure', // a test network: plaintext gossip beyond loopback
      '--log-level',
      'info',
      ...flags,
    ];
    const proc = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const agent = new NsAgent(bed, i, proc, join(dir, `h${i}.sock`), `${ip}:${GOSSIP_PORT}`);
    createInterface({ input: proc.stderr! }).on('line', (l) => agent.stderr.push(l));
    agent.forward = spawn('ip', ['netns', 'exec', host, process.execPath, FORWARD, agent.socket, String(HTTP_PORT)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: agent.forward!.stdout! }).once('line', () => resolve());
      agent.forward!.once('exit', (code) => reject(new Error(`unix-forward for h${i} exited with ${code}`)));
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null)
        throw new Error(`agent h${i} exited with ${proc.exitCode}: ${agent.stderr.join('\n')}`);
      try {
        if ((await agent.get('/members')).status === 200) return agent;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`agent h${i} did not answer in 15 s: ${agent.stderr.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private send(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socket,
          method,
          path,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
        },
        resolve,
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  private static async text(res: IncomingMessage): Promise<string> {
    res.setEncoding('utf8');
    let s = '';
    for await (const chunk of res) s += chunk as string;
    return s;
  }

  async get<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
    const res = await this.send('GET', path);
    return { status: res.statusCode ?? 0, body: JSON.parse(await NsAgent.text(res)) as T };
  }

  async post<T = Record<string, unknown>>(path: string, body: unknown): Promise<{ status: number; body: T }> {
    const res = await this.send('POST', path, body);
    return { status: res.statusCode ?? 0, body: JSON.parse(await NsAgent.text(res)) as T };
  }

  /** A POST answered with NDJSON (POST /query): every line, each stamped with when it arrived. */
  async postLines(
    path: string,
    body: unknown,
  ): Promise<{ status: number; lines: (Record<string, unknown> & { at: number })[] }> {
    const res = await this.send('POST', path, body);
    const lines: (Record<string, unknown> & { at: number })[] = [];
    for await (const line of createInterface({ input: res }))
      if (line.trim() !== '') lines.push({ ...(JSON.parse(line) as Record<string, unknown>), at: Date.now() });
    return { status: res.statusCode ?? 0, lines };
  }

  /** Opens /events (SSE) and collects its events into `events` until `close`. */
  async watch(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.stream = request(
        { socketPath: this.socket, path: '/events', headers: { accept: 'text/event-stream' } },
        (res) => {
          void (async () => {
            for await (const e of sse(res))
              this.events.push({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown>, at: Date.now() });
          })().catch(() => {});
          res.on('error', () => {});
          resolve();
        },
      );
      this.stream.on('error', reject);
      this.stream.end();
    });
  }

  /** Runs `scuttlebutt ARGS --http (this agent)` inside the host, as a user of that host would. */
  cli(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        'ip',
        ['netns', 'exec', this.host, process.execPath, MAIN, ...args, '--http', `127.0.0.1:${HTTP_PORT}`],
        { timeout: timeoutMs, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Live member ids this agent sees (itself included when the API lists it). */
  async liveIds(): Promise<string[]> {
    const { body } = await this.get<{ live: { id: string }[] }>('/members');
    return body.live.map((m) => m.id).sort();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.stream?.destroy();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    if (this.forward && this.forward.exitCode === null) this.forward.kill('SIGKILL');
    return this.exited;
  }
}

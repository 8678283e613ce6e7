/** Real agent processes for the CLI tests: started on port 0, their addresses read from the startup line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sse } from '../../src/cli/client.js';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Agent {
  readonly id: string;
  readonly proc: ChildProcess;
  /** UDP "host:port" it gossips on. */
  readonly gossip: string;
  /** HTTP "host:port" of its API. */
  readonly http: string;
  readonly stderr: string[];
  exited: Promise<number | null>;
}

/**
 * The flags of an agent on loopback: gossip and HTTP on ports the system picks (read back from its
 * startup line), its id, and the info log that carries that line.
 */
export function loopbackFlags(id: string): string[] {
  return ['--bind', '127.0.0.1:0', '--http', '127.0.0.1:0', '--node-id', id, '--log-level', 'info'];
}

/** Starts `scuttlebutt agent` on loopback, 200 ms rounds, with the given extra flags; resolves once its API is up. */
export function startAgent(
  id: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: string[] = [],
): Promise<Agent> {
  return spawnAgent(id, [...loopbackFlags(id), '--interval-ms', '200', ...extra], env, nodeFlags);
}

/** Starts `scuttlebutt agent` with exactly these flags (node's own first, then the environment); resolves once its API is up. */
export async function spawnAgent(
  id: string,
  flags: string[],
  env: NodeJS.ProcessEnv = {},
  nodeFlags: string[] = [],
): Promise<Agent> {
  const args = [...nodeFlags, MAIN, 'agent', ...flags];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  const stderr: string[] = [];
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent ${id} did not start in 10 s: ${stderr.join('\n')}`)),
      10_000,
    );
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      stderr.push(l);
      // The agent's pino record saying where it listens (level info).
      if (/"api":"http:/.test(l)) {
        clearTimeout(timer);
        resolve(l);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent ${id} exited with ${code}: ${stderr.join('\n')}`));
    });
  });
  const started = JSON.parse(line) as { bind?: string; api?: string };
  if (!started.bind || !started.api) throw new Error(`unexpected startup line: ${line}`);
  return { id, proc, gossip: started.bind, http: started.api.replace('http://', ''), stderr, exited };
}

export function killAll(agents: readonly (Agent | undefined)[]): void {
  for (const a of agents) if (a && a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGKILL');
}

export async function getJson<T = Record<string, unknown>>(
  http: string,
  path: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://${http}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

export async function postJson<T = Record<string, unknown>>(
  http: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://${http}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** An open /events stream: parsed events and raw comment lines, collected as they come. */
export class EventStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly status: Promise<number>;
  private req: ReturnType<typeof request>;

  constructor(http: string, path = '/events', headers: Record<string, string> = {}) {
    const [host, port] = http.split(':') as [string, string];
    let resolveStatus: (n: number) => void = () => {};
    this.status = new Promise((r) => (resolveStatus = r));
    this.req = request({ host, port: Number(port), path, headers }, (res) => {
      resolveStatus(res.statusCode ?? 0);
      void (async () => {
        for await (const e of sse(res, { onComment: (line) => this.comments.push(line) }))
          this.events.push({
            ...(e.id !== undefined ? { id: e.id } : {}),
            event: e.event,
            data: JSON.parse(e.data) as Record<string, unknown>,
          });
      })().catch(() => {}); // close() destroys the response mid-stream, which ends the iteration with an error
      res.on('error', () => {});
    });
    this.req.on('error', () => {});
    this.req.end();
  }

  close(): void {
    this.req.destroy();
  }
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface MemberJson {
  id: string;
  status: string;
  address: string;
  generation: number;
  metadata: Record<string, string>;
  silence?: { silentForMs: number; convictAfterMs: number; phi: number };
}

export async function liveIds(http: string): Promise<string[]> {
  try {
    const { body } = await getJson<{ live: MemberJson[] }>(http, '/members');
    return body.live.map((m) => m.id).sort();
  } catch {
    return [];
  }
}

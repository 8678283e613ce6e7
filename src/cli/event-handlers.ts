/**
 * `agent --event-handler`: scripts run on membership events, user events and queries, as serf's are.
 *
 * Each run is `/bin/sh -c SCRIPT` with the event in its environment (SCUTTLEBUTT_EVENT, ...) and the
 * members or the payload on stdin. Runs never happen on the gossip path: an event only queues a job,
 * and two lanes run their jobs one at a time, in order: one for membership and user events (a script
 * sees a join before the failure of the same member), one for queries (a query, which has a deadline,
 * never waits behind a slow join handler). A lane holds at most QUEUE_LIMIT jobs; past it an event's
 * runs are dropped, counted and logged. A run past the timeout is killed with its whole process group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Gauge } from 'prom-client';
import { HeldCounts, type LazyRegistry } from './metrics-held.js';
import type { Logger, MemberInfo, QueryRequest } from '../runtime/api.js';
import type { DeathReason } from '../core/types.js';
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';
import { handles, queryNames, type HandlerEventType, type HandlerSpec } from './handler-spec.js';

/** Jobs waiting per lane, beyond the one running. */
export const QUEUE_LIMIT = 256;
/** Bytes of a run's stdout and stderr kept for the log (the last ones). */
const TAIL_BYTES = 1024;
/** After the shell exits, how long a grandchild that still holds its stdout open is waited for. */
const DRAIN_MS = 200;

export type HandlerOutcome = 'ok' | 'failed' | 'timeout' | 'dropped';

/** The serf event type of a membership event. A superseded incarnation (a restart) leaves; the new one joins. */
export function memberEventType(event: 'live' | 'dead' | 'update' | 'removed', reason?: DeathReason): HandlerEventType {
  switch (event) {
    case 'live':
      return 'member-join';
    case 'dead':
      return reason === 'suspected' ? 'member-failed' : 'member-leave';
    case 'update':
      return 'member-update';
    case 'removed':
      return 'member-reap';
  }
}

/** Environment variable names are upper-case letters, digits and "_": every other character of a key becomes "_". */
export const envKey = (key: string): string => key.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

/** Field text on a member line: the characters that delimit fields and tags are percent-encoded. */
const field = (s: string): string =>
  s.replace(/[%\t\n\r,=]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** One stdin line per member: id, address, status and its tags (key=value,...), tab-separated (serf's layout). */
export function memberLines(members: readonly MemberInfo[]): string {
  return members
    .map((m) => {
      const tags = Object.entries(m.metadata)
        .map(([k, v]) => `${field(k)}=${field(v)}`)
        .join(',');
      return `${field(m.id)}\t${field(m.address)}\t${m.status}\t${tags}\n`;
    })
    .join('');
}

/** Our variables, which a run must not inherit from the agent's own environment. */
const OURS = /^SCUTTLEBUTT_(EVENT|SELF_|TAG_|USER_|QUERY_)/;

interface Job {
  readonly spec: HandlerSpec;
  readonly type: HandlerEventType;
  readonly env: Record<string, string>;
  /** Membership events: the members by id, batched while the job waits (a newer state replaces an older one). */
  readonly members?: Map<string, MemberInfo>;
  readonly payload?: Uint8Array;
  /** Queries: hears the run's stdout (or why there is none). */
  readonly done?: (result: RunResult) => void;
}

export interface RunResult {
  readonly outcome: Exclude<HandlerOutcome, 'dropped'>;
  readonly stdout: Buffer;
  /** stdout was cut at the cap. */
  readonly truncated: boolean;
}

export interface EventHandlersOptions {
  readonly handlers: readonly HandlerSpec[];
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Largest stdout kept from a query handler (the response); more fails the run's response. */
  readonly maxResponseBytes: number;
  /** Extra variables for every run (the agent's API address, so `scuttlebutt` commands in a script reach it). */
  readonly env?: Readonly<Record<string, string>>;
  readonly registry?: LazyRegistry;
}

/** A bounded lane: jobs run one at a time, in order. */
class Lane {
  readonly jobs: Job[] = [];
  running: ChildProcess | null = null;
  busy = false;
}

export class EventHandlers {
  private readonly lanes = { events: new Lane(), queries: new Lane() };
  private readonly counts: Record<HandlerOutcome, number> = { ok: 0, failed: 0, timeout: 0, dropped: 0 };
  private readonly runs: HeldCounts | undefined;
  private readonly baseEnv: Record<string, string>;
  private closed = false;
  private readonly unregister: (() => void)[] = [];
  private droppedSinceLog = 0;
  private dropLogTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly node: Scuttlebutt,
    private readonly options: EventHandlersOptions,
  ) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !OURS.test(k)) env[k] = v;
    this.baseEnv = { ...env, ...options.env };
    if (options.registry) {
      this.runs = new HeldCounts(
        'scuttlebutt_event_handler_runs_total',
        'Event handler runs, by event type and outcome: ok, failed (a non-zero exit), timeout (killed), ' +
          'dropped (its queue was full).',
        ['type', 'outcome'],
      );
      const runs = this.runs;
      const lanes = this.lanes;
      options.registry.define((prom, registry) => {
        runs.register(prom, registry);
        new prom.Gauge({
          name: 'scuttlebutt_event_handler_queue',
          help: 'Event handler runs waiting, by lane (events, queries).',
          labelNames: ['lane'],
          registers: [registry],
          collect(this: Gauge<'lane'>) {
            this.set({ lane: 'events' }, lanes.events.jobs.length);
            this.set({ lane: 'queries' }, lanes.queries.jobs.length);
          },
        });
      });
    }
    const wants = (type: HandlerEventType): boolean => options.handlers.some((h) => handles(h, type));
    const member = (m: MemberInfo, type: HandlerEventType): void => {
      if (wants(type)) this.memberEvent(type, m);
    };
    node.on('live', (m) => member(m, 'member-join'));
    node.on('dead', (m, reason) => member(m, memberEventType('dead', reason)));
    node.on('update', (m) => member(m, 'member-update'));
    node.on('removed', (m) => member(m, 'member-reap'));
    node.on('user', (e) => {
      if (this.wants('user', e.name)) this.userEvent(e);
    });
    // The library answers by name: each named query gets the handlers of its name (query()).
    for (const name of queryNames(options.handlers)) this.unregister.push(node.onQuery(name, (q) => this.query(q)));
  }

  /** Runs so far by outcome. */
  stats(): Readonly<Record<HandlerOutcome, number>> {
    return { ...this.counts };
  }

  /** Whether some handler takes events of this type (and name). */
  wants(type: HandlerEventType, name?: string): boolean {
    return this.options.handlers.some((h) => handles(h, type, name));
  }

  /** Queues the runs of a user event's handlers. */
  userEvent(e: { name: string; payload: Uint8Array; ltime: number; origin: string }): void {
    for (const spec of this.options.handlers) {
      if (!handles(spec, 'user', e.name)) continue;
      this.enqueue('events', {
        spec,
        type: 'user',
        env: {
          SCUTTLEBUTT_USER_EVENT: e.name,
          SCUTTLEBUTT_USER_LTIME: String(e.ltime),
          SCUTTLEBUTT_USER_ORIGIN: e.origin,
        },
        payload: e.payload,
      });
    }
  }

  /**
   * Runs a query's handlers in turn; resolves with the first non-empty stdout, the response. Rejects
   * when none gave one because a run failed, timed out, was dropped, or wrote more than the response cap.
   */
  query(q: QueryRequest): Promise<Buffer | void> {
    const specs = this.options.handlers.filter((h) => handles(h, 'query', q.name));
    const env = {
      SCUTTLEBUTT_QUERY_NAME: q.name,
      SCUTTLEBUTT_QUERY_LTIME: String(q.ltime),
      SCUTTLEBUTT_QUERY_ORIGIN: q.origin,
      SCUTTLEBUTT_QUERY_ID: q.id,
    };
    return new Promise((resolve, reject) => {
      let answered = false;
      let problem: string | undefined;
      let left = specs.length;
      if (left === 0) return resolve();
      const finish = (): void => {
        if (--left > 0 || answered) return;
        if (problem) reject(new Error(problem));
        else resolve();
      };
      for (const spec of specs) {
        const queued = this.enqueue('queries', {
          spec,
          type: 'query',
          env,
          payload: q.payload,
          done: (r) => {
            if (!answered && r.outcome === 'ok' && r.truncated)
              problem = `the handler's output is over ${this.options.maxResponseBytes} bytes`;
            else if (!answered && r.outcome === 'ok' && r.stdout.length > 0) {
              answered = true;
              resolve(r.stdout);
            } else if (r.outcome !== 'ok')
              problem ??= `the handler ${r.outcome === 'timeout' ? 'timed out' : 'failed'}`;
            finish();
          },
        });
        if (!queued) {
          problem ??= 'the query handler queue is full';
          finish();
        }
      }
    });
  }

  /** Stops: queued runs are dropped, running ones killed. */
  close(): void {
    this.closed = true;
    for (const u of this.unregister.splice(0)) u();
    if (this.dropLogTimer) clearTimeout(this.dropLogTimer);
    for (const lane of Object.values(this.lanes)) {
      for (const job of lane.jobs.splice(0))
        job.done?.({ outcome: 'failed', stdout: Buffer.alloc(0), truncated: false });
      if (lane.running?.pid !== undefined) killGroup(lane.running.pid);
    }
  }

  private memberEvent(type: HandlerEventType, m: MemberInfo): void {
    const lane = this.lanes.events;
    for (const spec of this.options.handlers) {
      if (!handles(spec, type)) continue;
      // A burst of joins (a cluster starting) becomes one run with every member on stdin, as in serf.
      const last = lane.jobs.at(-1);
      if (last && last.spec === spec && last.type === type && last.members) {
        last.members.set(m.id, m);
        continue;
      }
      this.enqueue('events', { spec, type, env: {}, members: new Map([[m.id, m]]) });
    }
  }

  private enqueue(laneName: keyof EventHandlers['lanes'], job: Job): boolean {
    if (this.closed) return false;
    const lane = this.lanes[laneName];
    if (lane.jobs.length >= QUEUE_LIMIT) {
      this.count(job.type, 'dropped');
      this.noteDrop();
      return false;
    }
    lane.jobs.push(job);
    if (!lane.busy) void this.drain(lane);
    return true;
  }

  /** Drops are logged at most once a second, with how many there were. */
  private noteDrop(): void {
    this.droppedSinceLog++;
    this.dropLogTimer ??= setTimeout(() => {
      this.dropLogTimer = null;
      this.options.log.warn(
        { dropped: this.droppedSinceLog, queueLimit: QUEUE_LIMIT },
        `${this.droppedSinceLog} event handler run(s) dropped: more than ${QUEUE_LIMIT} were waiting ` +
          '(handlers slower than the events they handle)',
      );
      this.droppedSinceLog = 0;
    }, 1000).unref();
  }

  private count(type: HandlerEventType, outcome: HandlerOutcome): void {
    this.counts[outcome]++;
    this.runs?.inc({ type, outcome });
  }

  private async drain(lane: Lane): Promise<void> {
    lane.busy = true;
    try {
      for (let job = lane.jobs.shift(); job && !this.closed; job = lane.jobs.shift()) {
        const result = await this.run(lane, job);
        this.count(job.type, result.outcome);
        job.done?.(result);
      }
    } finally {
      lane.busy = false;
    }
  }

  private environment(job: Job): Record<string, string> {
    const env: Record<string, string> = {
      ...this.baseEnv,
      SCUTTLEBUTT_EVENT: job.type,
      SCUTTLEBUTT_SELF_NAME: this.node.self.id,
      SCUTTLEBUTT_SELF_ADDRESS: this.node.self.address,
    };
    let self: Readonly<Record<string, string>> = {};
    try {
      self = this.node.state().self.metadata;
    } catch {
      // Shut down: no metadata to give.
    }
    for (const [k, v] of Object.entries(self)) env[`SCUTTLEBUTT_TAG_${envKey(k)}`] = v;
    return { ...env, ...job.env };
  }

  private run(lane: Lane, job: Job): Promise<RunResult> {
    const { log, timeoutMs } = this.options;
    const cap = job.type === 'query' ? this.options.maxResponseBytes : TAIL_BYTES;
    const started = performance.now();
    return new Promise<RunResult>((resolve) => {
      let child: ChildProcess;
      try {
        // Its own process group, so a timeout kills what the script started as well.
        child = spawn('/bin/sh', ['-c', job.spec.script], {
          env: this.environment(job),
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
        });
      } catch (err) {
        log.warn({ script: job.spec.script, err: (err as Error).message }, 'event handler could not start');
        return resolve({ outcome: 'failed', stdout: Buffer.alloc(0), truncated: false });
      }
      lane.running = child;
      const out = new Tail(cap, job.type === 'query');
      const errTail = new Tail(TAIL_BYTES, false);
      child.stdout?.on('data', (b: Buffer) => out.add(b));
      child.stderr?.on('data', (b: Buffer) => errTail.add(b));
      child.stdin?.on('error', () => {}); // a script that does not read its stdin closes it early
      child.stdin?.end(job.members ? memberLines([...job.members.values()]) : (job.payload ?? ''));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid);
      }, timeoutMs);
      let settled = false;
      const settle = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        lane.running = null;
        child.stdout?.destroy();
        child.stderr?.destroy();
        const ms = Math.round(performance.now() - started);
        const context = { event: job.type, script: job.spec.script, ms };
        let outcome: RunResult['outcome'] = 'ok';
        if (timedOut) {
          outcome = 'timeout';
          log.warn(
            { ...context, timeoutMs, stderr: errTail.text() },
            `event handler for ${job.type} killed after ${timeoutMs} ms (--event-handler-timeout): ${job.spec.script}`,
          );
        } else if (spawnError || code !== 0) {
          outcome = 'failed';
          const how = spawnError ? spawnError.message : code === null ? `killed by ${signal}` : `exit code ${code}`;
          log.warn(
            { ...context, exitCode: code, signal, stderr: errTail.text() },
            `event handler for ${job.type} failed (${how}): ${job.spec.script}`,
          );
        } else log.debug({ ...context, stdout: out.text(), stderr: errTail.text() }, 'event handler ran');
        resolve({ outcome, stdout: out.bytes(), truncated: out.truncated });
      };
      child.on('error', (err) => settle(null, null, err));
      child.on('exit', (code, signal) => {
        // Output still in the pipes is read first; a grandchild holding them open is not waited for long.
        const drained = setTimeout(() => settle(code, signal), DRAIN_MS);
        child.on('close', () => {
          clearTimeout(drained);
          settle(code, signal);
        });
      });
    });
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Keeps the first `cap` bytes (a response) or the last ones (a log tail). */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(
    private readonly cap: number,
    private readonly head: boolean,
  ) {}

  add(b: Buffer): void {
    if (this.head) {
      if (this.size + b.length > this.cap) {
        this.truncated = true;
        b = b.subarray(0, this.cap - this.size);
      }
      if (b.length > 0) this.chunks.push(b);
      this.size += b.length;
      return;
    }
    this.chunks.push(b);
    this.size += b.length;
    if (this.size > 4 * this.cap) this.compact();
  }

  bytes(): Buffer {
    this.compact();
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.bytes().toString('utf8');
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const kept = this.head || all.length <= this.cap ? all : all.subarray(all.length - this.cap);
    this.truncated ||= kept.length < all.length;
    this.chunks = [kept];
    this.size = kept.length;
  }
}

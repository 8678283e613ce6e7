/**
 * `agent --snapshot PATH`: what the agent knew of its cluster, kept on disk so a restart can rejoin
 * without seeds (serf's snapshot, as one small JSON document instead of an append-only log).
 *
 * The file is rewritten whole, atomically (a temporary file in the same directory, fsync, rename,
 * fsync of the directory), at most once per WRITE_INTERVAL_MS, when the membership or the Lamport
 * clocks change, and at least every REFRESH_MS while members are live so their `lastSeen` stays fresh.
 * Members that left are dropped at once; members that failed stay (the whole cluster may be coming
 * back from a power cut) until RETENTION_MS after they were last seen live.
 *
 * Reading never stops the agent: a missing file is a first start, and a file that cannot be read,
 * is not JSON, is truncated, has another format version or another cluster id is logged and ignored.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Counter } from 'prom-client';
import type { LazyRegistry } from './metrics-held.js';
import type { Logger, MemberInfo } from '../runtime/api.js';
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';

/** The format written; a reader refuses any other (the file says which it is). */
export const SNAPSHOT_FORMAT = 'scuttlebutt-snapshot';
export const SNAPSHOT_VERSION = 1;
export const WRITE_INTERVAL_MS = 1000;
const REFRESH_MS = 60_000;
/** A failed member is forgotten this long after it was last seen live. */
export const RETENTION_MS = 24 * 3600_000;
/** Addresses a restart joins through at most (the most recently seen first). */
export const REJOIN_ADDRESSES = 64;

export interface SnapshotMember {
  readonly id: string;
  readonly address: string;
  /** live when written, or failed (dead by suspicion, or superseded by a restart not yet seen). */
  readonly status: 'live' | 'failed';
  /** Unix ms when this agent last knew it live. */
  readonly lastSeen: number;
  readonly generation: number;
}

export interface SnapshotFile {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly version: typeof SNAPSHOT_VERSION;
  readonly clusterId: string;
  /** The agent that wrote it (its id may change between runs when --node-id is not given). */
  readonly nodeId: string;
  readonly nodeAddress: string;
  /** Unix ms. */
  readonly written: number;
  readonly lamportClocks: { readonly event: number; readonly query: number };
  readonly members: readonly SnapshotMember[];
}

export type SnapshotRead =
  | { readonly ok: true; readonly snapshot: SnapshotFile }
  | { readonly ok: false; readonly missing: boolean; readonly problem: string };

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Why `v` is not a snapshot this agent reads, or null. */
function problemOf(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'it is not a JSON object';
  const s = v as Record<string, unknown>;
  if (s.format !== SNAPSHOT_FORMAT) return `its "format" is not "${SNAPSHOT_FORMAT}"`;
  if (s.version !== SNAPSHOT_VERSION)
    return `it is format version ${JSON.stringify(s.version)}; this agent reads version ${SNAPSHOT_VERSION}`;
  if (!isText(s.clusterId) || !isText(s.nodeId) || typeof s.nodeAddress !== 'string' || !isCount(s.written))
    return 'its clusterId, nodeId, nodeAddress or written field is missing or of the wrong type';
  const c = s.lamportClocks as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null || !isCount(c.event) || !isCount(c.query))
    return 'its lamportClocks are not {"event": N, "query": N}';
  if (!Array.isArray(s.members)) return 'its members are not a list';
  for (const [i, m] of (s.members as unknown[]).entries()) {
    const e = m as Record<string, unknown> | null;
    if (
      typeof e !== 'object' ||
      e === null ||
      !isText(e.id) ||
      !isText(e.address) ||
      (e.status !== 'live' && e.status !== 'failed') ||
      !isCount(e.lastSeen) ||
      !isCount(e.generation)
    )
      return `member ${i} is not {"id", "address", "status": "live"|"failed", "lastSeen", "generation"}`;
  }
  return null;
}

/** Reads and checks a snapshot file; never throws. */
export function readSnapshot(path: string): SnapshotRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, missing: e.code === 'ENOENT', problem: `cannot read it: ${e.message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const what =
      text.trim() === '' ? 'it is empty' : `it is not valid JSON (truncated or corrupt): ${(err as Error).message}`;
    return { ok: false, missing: false, problem: what };
  }
  const problem = problemOf(value);
  return problem ? { ok: false, missing: false, problem } : { ok: true, snapshot: value as SnapshotFile };
}

/**
 * Reads the snapshot at start: the file, when usable, else undefined after saying why in the log.
 * A snapshot of another cluster is refused: the path was likely meant for another agent.
 */
export function loadSnapshot(path: string, clusterId: string, log: Logger): SnapshotFile | undefined {
  const read = readSnapshot(path);
  if (!read.ok) {
    if (read.missing) log.info({ snapshot: path }, `no snapshot at ${path} yet: starting without one`);
    else
      log.warn(
        { snapshot: path, problem: read.problem },
        `snapshot ${path} ignored: ${read.problem}. It will be rewritten from this run's membership`,
      );
    return undefined;
  }
  const s = read.snapshot;
  if (s.clusterId !== clusterId) {
    log.warn(
      { snapshot: path, clusterId: s.clusterId },
      `snapshot ${path} ignored: it is of cluster "${s.clusterId}", this agent is in "${clusterId}" (--cluster)`,
    );
    return undefined;
  }
  log.info(
    { snapshot: path, members: s.members.length, lamportClocks: s.lamportClocks },
    `snapshot ${path} read: ${s.members.length} member(s), written ${new Date(s.written).toISOString()}`,
  );
  return s;
}

/** The addresses to rejoin through: not this agent's own, within retention, live ones first, then the most recent. */
export function rejoinAddresses(s: SnapshotFile, own: readonly string[], now = Date.now()): string[] {
  const seen = new Set(own);
  return [...s.members]
    .filter((m) => now - m.lastSeen <= RETENTION_MS)
    .sort((a, b) => (a.status === b.status ? b.lastSeen - a.lastSeen : a.status === 'live' ? -1 : 1))
    .map((m) => m.address)
    .filter((a) => !seen.has(a) && (seen.add(a), true))
    .slice(0, REJOIN_ADDRESSES);
}

type Clocks = { readonly event: number; readonly query: number };

export interface SnapshotterOptions {
  readonly path: string;
  readonly log: Logger;
  /** What was read at start: its members are kept, as failed until seen again. */
  readonly previous?: SnapshotFile;
  /** The node's Lamport clocks now. */
  readonly clocks: () => Clocks;
  /** Where scuttlebutt_snapshot_writes_total is registered. */
  readonly registry?: LazyRegistry;
}

/** Keeps the snapshot file up to date with the node's membership and clocks. */
export class Snapshotter {
  private readonly members = new Map<string, SnapshotMember>();
  private dirty = true;
  private lastWrite = 0;
  private lastClocks: Clocks = { event: 0, query: 0 };
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly poll: NodeJS.Timeout;
  private failing = false;
  private closed = false;
  /** Writes so far, and failed attempts. */
  readonly counts = { writes: 0, failures: 0 };

  constructor(
    private readonly node: Scuttlebutt,
    private readonly options: SnapshotterOptions,
  ) {
    const now = Date.now();
    for (const m of options.previous?.members ?? [])
      if (now - m.lastSeen <= RETENTION_MS) this.members.set(m.id, { ...m, status: 'failed' });
    node.on('live', (m) => this.seen(m));
    node.on('update', (m) => this.seen(m));
    node.on('dead', (m, reason) => {
      const known = this.members.get(m.id);
      if (!known || known.generation > m.generation) return;
      if (reason === 'left') this.members.delete(m.id);
      else this.members.set(m.id, { ...known, status: 'failed' });
      this.changed();
    });
    if (options.registry) {
      const counts = this.counts;
      options.registry.define(
        (prom, registry) =>
          new prom.Counter({
            name: 'scuttlebutt_snapshot_writes_total',
            help: 'Snapshot file writes (--snapshot), by outcome: ok, failed (logged once; retried every second).',
            labelNames: ['outcome'],
            registers: [registry],
            collect(this: Counter<'outcome'>) {
              this.reset();
              this.inc({ outcome: 'ok' }, counts.writes);
              this.inc({ outcome: 'failed' }, counts.failures);
            },
          }),
      );
    }
    for (const m of node.state().live) this.seen(m);
    // The clocks have no event of their own: they are compared once per write interval.
    this.poll = setInterval(() => {
      const c = this.options.clocks();
      if (c.event !== this.lastClocks.event || c.query !== this.lastClocks.query) this.changed();
      else if (Date.now() - this.lastWrite >= REFRESH_MS && this.liveOthers() > 0) this.changed();
    }, WRITE_INTERVAL_MS).unref();
    this.changed();
  }

  /** Writes now if anything changed since the last write, and stops. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.poll);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
    if (this.dirty) await this.write();
  }

  private liveOthers(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.status === 'live') n++;
    return n;
  }

  private seen(m: MemberInfo): void {
    if (m.id === this.node.self.id || m.status !== 'live') return;
    const known = this.members.get(m.id);
    if (known && known.generation > m.generation) return;
    this.members.set(m.id, {
      id: m.id,
      address: m.address,
      status: 'live',
      lastSeen: Date.now(),
      generation: m.generation,
    });
    this.changed();
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer || this.closed) return;
    const wait = Math.max(0, this.lastWrite + WRITE_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, wait);
    this.timer.unref();
  }

  private content(): SnapshotFile {
    const now = Date.now();
    // The node started from the previous clocks (config.lamportClocks), so its own are never behind them.
    const clocks = this.options.clocks();
    this.lastClocks = clocks;
    const members: SnapshotMember[] = [];
    for (const [id, m] of this.members) {
      if (m.status === 'live') members.push({ ...m, lastSeen: now });
      else if (now - m.lastSeen <= RETENTION_MS) members.push(m);
      else this.members.delete(id);
    }
    for (const m of members) if (m.status === 'live') this.members.set(m.id, m);
    return {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      clusterId: this.node.config.clusterId,
      nodeId: this.node.self.id,
      nodeAddress: this.node.self.address,
      written: now,
      lamportClocks: { event: clocks.event, query: clocks.query },
      members,
    };
  }

  private write(): Promise<void> {
    if (this.writing) {
      // One write at a time; the change is picked up by the next.
      this.dirty = true;
      return this.writing;
    }
    this.dirty = false;
    this.lastWrite = Date.now();
    const { path, log } = this.options;
    this.writing = writeAtomically(path, `${JSON.stringify(this.content(), null, 1)}\n`)
      .then(() => {
        this.counts.writes++;
        if (this.failing) log.info({ snapshot: path }, `snapshot ${path} written again`);
        this.failing = false;
      })
      .catch((err: unknown) => {
        this.counts.failures++;
        // Logged once per run of failures: a full disk would otherwise log every second.
        if (!this.failing)
          log.error(
            { snapshot: path, err: (err as Error).message },
            `snapshot ${path} not written (the agent runs on; retried every second): ${(err as Error).message}`,
          );
        this.failing = true;
        this.dirty = true;
      })
      .finally(() => {
        this.writing = null;
        if (this.dirty && !this.closed) this.changed();
      });
    return this.writing;
  }
}

/** Writes `text` to `path` so that a reader, even after a crash, finds the old file or the new one whole. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const file = await open(tmp, 'w', 0o600);
  try {
    await file.writeFile(text, 'utf8');
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await file.close();
  await rename(tmp, path);
  // The rename itself reaches the disk with the directory's fsync; some systems refuse it on a directory.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Best effort.
  }
}

/**
 * Joins the addresses a snapshot holds: at once when the agent was given no seeds, else only when no
 * seed answered within `waitMs` (the agent still knows no other live member). The addresses become
 * seeds like the others, tried again while the agent is alone. Resolves when the join was made or skipped.
 */
export async function rejoinFromSnapshot(
  node: Scuttlebutt,
  snapshot: SnapshotFile,
  options: { readonly seedsGiven: boolean; readonly waitMs: number; readonly log: Logger; readonly path: string },
): Promise<void> {
  const addresses = rejoinAddresses(snapshot, [node.self.address, node.boundAddress]);
  if (addresses.length === 0) return;
  if (options.seedsGiven) {
    await new Promise((r) => setTimeout(r, options.waitMs).unref());
    if (node.stats().liveMembers > 1) return;
  }
  options.log.info(
    { snapshot: options.path, addresses },
    `${options.seedsGiven ? 'no seed answered: ' : ''}rejoining through the ${addresses.length} address(es) ` +
      `of snapshot ${options.path}`,
  );
  await node
    .join(addresses)
    .catch((err: unknown) =>
      options.log.warn({ err: (err as Error).message }, `rejoin through snapshot failed: ${(err as Error).message}`),
    );
}

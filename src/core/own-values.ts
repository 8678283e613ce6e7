/**
 * This node's own key-values: writes, TTLs, deletes and the garbage collection of tombstones. Every
 * change takes the next version of this incarnation; the map is kept in ascending version order,
 * which is the order deltas are cut in. With flow control, a write above the allowed rate is held
 * (coalesced per key) and takes its version only when released (flow-control.ts).
 */
import { exchangeHeaderSize, nodeDeltaHeaderSize, valueSize } from '../wire/codec.js';
import type { NodeIdentity } from '../wire/messages.js';
import type { FlowControl } from './flow-control.js';
import type { Journal } from './journal.js';
import { SELF } from './membership.js';
import type { VersionedValue } from '../wire/messages.js';
import { MAX_HEARTBEAT_LEAP, MAX_VERSION, MAX_VERSION_LEAP, type PeerTable, type StoredValue } from './peer-table.js';
import { InvalidArgumentError, ValueTooLargeError, VersionsExhaustedError } from '../errors.js';

export interface OwnValuesComponents {
  /** Our own row of it: versions and the GC version; the map of values is ours. */
  readonly table: PeerTable;
  readonly journal: Journal;
  /** Rate control of writes; absent: every write is published at once. */
  readonly flow?: FlowControl | null;
  /** Harness hook: each publication with its version (CoreConfig.onPublish). */
  readonly onPublish?: ((key: string, version: number) => void) | null;
}

export interface OwnValuesInit {
  readonly self: NodeIdentity;
  readonly clusterId: string;
  readonly payloadBudget: number;
  readonly tombstoneGracePeriodMs: number;
  /** The values this incarnation starts with: its introduction, published before any write. */
  readonly initialValues?: Readonly<Record<string, string>>;
}

export class OwnValues {
  private readonly map = new Map<string, StoredValue>();
  private readonly table: PeerTable;
  private readonly journal: Journal;
  private readonly self: NodeIdentity;
  private readonly clusterId: string;
  private readonly payloadBudget: number;
  private readonly tombstoneGraceMs: number;
  private readonly flow: FlowControl | null = null;
  private readonly onPublish: ((key: string, version: number) => void) | null = null;

  constructor(components: OwnValuesComponents, init: OwnValuesInit) {
    this.table = components.table;
    this.journal = components.journal;
    this.self = init.self;
    this.clusterId = init.clusterId;
    this.payloadBudget = init.payloadBudget;
    this.tombstoneGraceMs = init.tombstoneGracePeriodMs;
    this.table.values.set(SELF, this.map);
    // The initial values go in before flow control and the hook are attached: they are the node's
    // introduction, neither a write load to pace nor a publication to report. They are news, but
    // raise no event: nobody listens yet.
    for (const [key, value] of Object.entries(init.initialValues ?? {})) {
      this.checkWrite(key, value);
      this.put(key, { value, version: 0, tombstone: false, expiresAt: Infinity, deletedAt: 0 }, { announce: false });
    }
    this.flow = components.flow ?? null;
    this.onPublish = components.onPublish ?? null;
  }

  /** Sets a key; a no-op when the value is unchanged. */
  set(key: string, value: string, now: number): void {
    this.write(key, value, Infinity, now);
  }

  /** Sets a key that is deleted (tombstoned) after ttlMs; peers learn the deletion by gossip. */
  setWithTtl(key: string, value: string, ttlMs: number, now: number): void {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs))
      throw new InvalidArgumentError(`ttlMs must be a positive finite number of ms (got ${ttlMs})`);
    this.write(key, value, now + ttlMs, now);
  }

  delete(key: string, now: number): void {
    const current = this.current(key);
    if (!current || current.tombstone) return;
    const published = this.map.get(key);
    if (this.flow?.pending(key) && (!published || published.tombstone)) {
      // Written and deleted while held: peers never saw it, so there is nothing to tell them.
      this.flow.drop(key);
      this.journal.emit({ type: 'update', node: this.self, keys: [key] }, SELF);
      return;
    }
    this.stage(key, { value: '', version: 0, tombstone: true, expiresAt: Infinity, deletedAt: now }, now);
  }

  /**
   * One of the protocol's reserved keys (reserved-keys.ts: the gate's), written now, outside flow control: it is
   * membership, not a write load. A no-op when the value is held already.
   */
  setReserved(key: string, value: string): void {
    const held = this.map.get(key);
    if (held && !held.tombstone && held.value === value) return;
    this.put(key, { value, version: 0, tombstone: false, expiresAt: Infinity, deletedAt: 0 });
  }

  get(key: string): string | undefined {
    const v = this.current(key);
    return v && !v.tombstone ? v.value : undefined;
  }

  /**
   * Someone holds our heartbeat at `claimed`, above the one we produced: only we can make that
   * claim stale, by going one higher (SWIM refutes a suspicion with a higher incarnation the same
   * way). Claims past MAX_HEARTBEAT_LEAP are left alone: no receiver accepts them. True when refuted.
   */
  refuteHeartbeat(claimed: number, now: number): boolean {
    const mine = this.table.heartbeat(SELF);
    if (claimed <= mine || claimed - mine > MAX_HEARTBEAT_LEAP) return false;
    this.table.setHeartbeat(SELF, claimed + 1);
    this.table.setBirth(SELF, now);
    this.journal.reject('refuted-heartbeat');
    this.journal.news = true;
    return true;
  }

  /**
   * Someone holds versions of ours up to `claimed` that we never wrote (`values`: the key-values it
   * sent us as ours, possibly none). Our versions jump past the claim and every key of ours is
   * written again above it, and each key in `values` that we do not hold gets a tombstone: every
   * node then takes our state over the forged one, as over any older version.
   */
  refute(claimed: number, values: readonly VersionedValue[], now: number): void {
    const mine = this.table.maxVersion(SELF);
    if (claimed <= mine || claimed - mine > MAX_VERSION_LEAP) return;
    if (claimed + this.map.size + values.length >= MAX_VERSION) return;
    this.table.setMaxVersion(SELF, claimed);
    for (const [key, entry] of [...this.map]) this.put(key, entry, { announce: false });
    for (const v of values) {
      if (!this.map.has(v.key))
        this.put(
          v.key,
          { value: '', version: 0, tombstone: true, expiresAt: Infinity, deletedAt: now },
          { announce: false },
        );
    }
    this.journal.reject('refuted-version');
    this.journal.news = true;
  }

  /** Turns keys past their TTL into tombstones, and drops tombstones past the grace period (raising the GC version). */
  expire(now: number): void {
    const expired: string[] = [];
    let collected = this.table.gcVersion(SELF);
    for (const [key, v] of this.map) {
      // A held write of the key supersedes the published one, its TTL with it.
      if (!v.tombstone && v.expiresAt <= now && !this.flow?.pending(key)) expired.push(key);
      else if (v.tombstone && v.deletedAt + this.tombstoneGraceMs <= now) {
        this.map.delete(key);
        if (v.version > collected) collected = v.version;
      }
    }
    this.table.setGcVersion(SELF, collected);
    if (this.flow) expired.push(...this.flow.expired(now));
    for (const key of expired) this.delete(key, now);
  }

  /** Publishes the held writes the allowed rate lets out now, each with the next version. */
  release(now: number): void {
    if (!this.flow || this.flow.backlog === 0) return;
    for (const [key, w] of this.flow.release(now)) {
      // The local view already showed this write (and its update event went out when it was made).
      this.put(
        key,
        {
          value: w.value,
          version: 0,
          tombstone: w.tombstone,
          expiresAt: w.expiresAt,
          deletedAt: w.tombstone ? now : 0,
        },
        { announce: false },
      );
    }
  }

  /** The local view of this node's keys: published values overlaid with held writes. */
  view(): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [key, v] of this.map) if (!v.tombstone) values[key] = v.value;
    if (this.flow) {
      for (const [key, w] of this.flow.pendingEntries()) {
        if (w.tombstone) delete values[key];
        else values[key] = w.value;
      }
    }
    return values;
  }

  /** This node's latest write of a key: held by flow control, else published. */
  private current(key: string): { value: string; tombstone: boolean; expiresAt: number } | undefined {
    return this.flow?.pending(key) ?? this.map.get(key);
  }

  private write(key: string, value: string, expiresAt: number, now: number): void {
    this.checkWrite(key, value);
    const current = this.current(key);
    if (current && !current.tombstone && current.value === value) {
      current.expiresAt = expiresAt; // a TTL refresh needs no new version: expiry is the owner's business
      return;
    }
    this.stage(key, { value, version: 0, tombstone: false, expiresAt, deletedAt: 0 }, now);
  }

  /** Throws on a key or value this node cannot write: not a string, or too large for one packet. */
  private checkWrite(key: string, value: string): void {
    if (typeof key !== 'string' || key.length === 0) throw new InvalidArgumentError('key must be a non-empty string');
    if (typeof value !== 'string') throw new InvalidArgumentError(`value of key "${key}" must be a string`);
    // What an ACK carrying this one value costs at worst; 16 covers the delta's counts and the bumps' flags.
    const cost =
      exchangeHeaderSize(this.clusterId, 0) +
      16 +
      nodeDeltaHeaderSize(this.self, 2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40, 1) +
      valueSize({ key, value, version: 2 ** 40, tombstone: false });
    if (cost > this.payloadBudget) {
      throw new ValueTooLargeError(
        `key "${key.slice(0, 40)}" with its value needs ${cost} bytes in a packet; ` +
          `the payload budget is ${this.payloadBudget} bytes`,
      );
    }
  }

  /** A local write: published now, or held by flow control; the local view has it at once either way. */
  private stage(key: string, entry: StoredValue, now: number): void {
    if (!this.flow || this.flow.admit(key, entry, now)) this.put(key, entry);
    else this.journal.emit({ type: 'update', node: this.self, keys: [key] }, SELF);
  }

  /**
   * Publishes a key at the next version. `announce` false: the change is news to spread, but no event (the local view
   * had it already, or it only restates what we hold).
   */
  private put(key: string, entry: StoredValue, options: { readonly announce: boolean } = { announce: true }): void {
    const version = this.table.maxVersion(SELF) + 1;
    if (version > MAX_VERSION)
      throw new VersionsExhaustedError(
        'this node has used all 2^32 versions of its incarnation: restart it (a new generation starts from 1)',
      );
    entry.version = version;
    // Delete then set: Map order stays ascending by version, which is the order deltas need.
    this.map.delete(key);
    this.map.set(key, entry);
    this.table.setMaxVersion(SELF, version);
    this.onPublish?.(key, version);
    if (options.announce) this.journal.emit({ type: 'update', node: this.self, keys: [key] }, SELF);
    else this.journal.news = true;
  }
}

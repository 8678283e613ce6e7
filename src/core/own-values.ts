/**
 * This node's own key-values: writes, TTLs, deletes and the garbage collection of tombstones. Every
 * change takes the next version of this incarnation; the map is kept in ascending version order,
 * which is the order deltas are cut in.
 */
import { exchangeHeaderSize, nodeDeltaHeaderSize, valueSize } from '../wire/codec.js';
import type { NodeIdentity } from '../wire/messages.js';
import type { Journal } from './journal.js';
import { SELF } from './membership.js';
import { MAX_VERSION, type PeerTable, type StoredValue } from './peer-table.js';

export class OwnValues {
  private readonly map = new Map<string, StoredValue>();

  constructor(
    private readonly table: PeerTable,
    private readonly self: NodeIdentity,
    private readonly journal: Journal,
    private readonly clusterId: string,
    private readonly payloadBudget: number,
    private readonly tombstoneGraceMs: number,
  ) {
    table.values[SELF] = this.map;
  }

  /** Sets a key; a no-op when the value is unchanged. */
  set(key: string, value: string): void {
    this.write(key, value, Infinity);
  }

  /** Sets a key that is deleted (tombstoned) after ttlMs; peers learn the deletion by gossip. */
  setWithTtl(key: string, value: string, ttlMs: number, now: number): void {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a positive finite number of ms (got ${ttlMs})`);
    this.write(key, value, now + ttlMs);
  }

  delete(key: string, now: number): void {
    const current = this.map.get(key);
    if (!current || current.tombstone) return;
    this.put(key, { value: '', version: 0, tombstone: true, expiresAt: Infinity, deletedAt: now });
  }

  get(key: string): string | undefined {
    const v = this.map.get(key);
    return v && !v.tombstone ? v.value : undefined;
  }

  /** Turns keys past their TTL into tombstones, and drops tombstones past the grace period (raising the GC version). */
  expire(now: number): void {
    const expired: string[] = [];
    let collected = this.table.gcVersion(SELF);
    for (const [key, v] of this.map) {
      if (!v.tombstone && v.expiresAt <= now) expired.push(key);
      else if (v.tombstone && v.deletedAt + this.tombstoneGraceMs <= now) {
        this.map.delete(key);
        if (v.version > collected) collected = v.version;
      }
    }
    this.table.setGcVersion(SELF, collected);
    for (const key of expired) this.delete(key, now);
  }

  private write(key: string, value: string, expiresAt: number): void {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
    if (typeof value !== 'string') throw new TypeError(`value of key "${key}" must be a string`);
    // What an ACK carrying this one value costs at worst; 16 covers the delta's counts and the bumps' flags.
    const cost =
      exchangeHeaderSize(this.clusterId, 0) +
      16 +
      nodeDeltaHeaderSize(this.self, 2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40, 1) +
      valueSize({ key, value, version: 2 ** 40, tombstone: false });
    if (cost > this.payloadBudget) {
      throw new RangeError(`key "${key.slice(0, 40)}" with its value needs ${cost} bytes in a packet; the payload budget is ${this.payloadBudget} bytes`);
    }
    const current = this.map.get(key);
    if (current && !current.tombstone && current.value === value) {
      current.expiresAt = expiresAt; // a TTL refresh needs no new version: expiry is the owner's business
      return;
    }
    this.put(key, { value, version: 0, tombstone: false, expiresAt, deletedAt: 0 });
  }

  private put(key: string, entry: StoredValue): void {
    const version = this.table.maxVersion(SELF) + 1;
    if (version > MAX_VERSION) throw new RangeError('this node has used all 2^32 versions of its incarnation: restart it (a new generation starts from 1)');
    entry.version = version;
    // Delete then set: Map order stays ascending by version, which is the order deltas need.
    this.map.delete(key);
    this.map.set(key, entry);
    this.table.setMaxVersion(SELF, version);
    this.journal.emit({ type: 'update', node: this.self, keys: [key] }, SELF);
  }
}

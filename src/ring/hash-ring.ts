/**
 * A consistent-hash ring: which member owns a key, the next ones in line, and what moved when the members
 * changed. Pure and deterministic: two rings with the same members and replicas give every key the same
 * owners, whatever order the members came in, on any platform (the hash is defined byte by byte in
 * hash.ts; docs/building-on-membership.md, "Hash ring", says why virtual nodes and what it measures).
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '../errors.js';
import { changeBetween, type RingChange } from './change.js';
import { hashHi, hashKey, hashLo } from './hash.js';
import { EMPTY_POINTS, ownerIndex, rebuild, sharesOf, type Points } from './points.js';

/** Virtual nodes per member when not told: the balance/memory trade-off measured in docs/benchmarks.md. */
export const DEFAULT_REPLICAS = 160;
/** More virtual nodes than this per member buy no balance worth their memory and build time. */
export const MAX_REPLICAS = 4096;

export interface HashRingOptions {
  /** Virtual nodes per member (default 160): more gives a more even split and costs memory and build time. */
  readonly replicas?: number;
}

export interface HashRingEvents {
  /** The members changed: who joined and left, and the key ranges that changed owner. */
  change: [change: RingChange];
}

export class HashRing extends EventEmitter<HashRingEvents> {
  /** Virtual nodes per member. */
  readonly replicas: number;
  private points: Points = EMPTY_POINTS;
  private cachedShares: ReadonlyMap<string, number> | null = null;

  /**
   * A ring over `members` (duplicates count once). Its members change with setMembers(), add() and
   * remove(), each emitting 'change'; a ring from node.ring() follows the node's members instead.
   */
  constructor(members: Iterable<string> = [], options: HashRingOptions = {}) {
    super();
    const replicas = options.replicas ?? DEFAULT_REPLICAS;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS)
      throw new InvalidArgumentError(`replicas must be an integer from 1 to ${MAX_REPLICAS} (got ${String(replicas)})`);
    this.replicas = replicas;
    this.apply(members, false);
  }

  /** The members, sorted. */
  get members(): readonly string[] {
    return this.points.ids;
  }

  /** The member that owns `key` (a string hashes as its UTF-8 bytes), or undefined on an empty ring. */
  owner(key: string | Uint8Array): string | undefined {
    const p = this.points;
    if (p.pos.length === 0) return undefined;
    hashKey(key);
    return p.ids[p.who[ownerIndex(p, hashHi, hashLo)] as number];
  }

  /**
   * Up to `n` distinct members for `key`, in preference order: the owner first, then the members of the
   * points before it on the ring. So `owners(key, 2)[1]` is the member that takes the key over if its owner
   * leaves, the natural place for a replica.
   */
  owners(key: string | Uint8Array, n: number): string[] {
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`n must be a non-negative integer (got ${n})`);
    const p = this.points;
    const total = p.pos.length;
    const want = Math.min(n, p.ids.length);
    if (total === 0 || want === 0) return [];
    hashKey(key);
    const out: string[] = [];
    // A few owners are checked against the list itself; many, against a mark per member.
    const seen = want > 8 ? new Uint8Array(p.ids.length) : null;
    let at = ownerIndex(p, hashHi, hashLo);
    for (let step = 0; step < total && out.length < want; step++) {
      const w = p.who[at] as number;
      const id = p.ids[w] as string;
      if (seen ? seen[w] === 0 : !out.includes(id)) {
        if (seen) seen[w] = 1;
        out.push(id);
      }
      at = at === 0 ? total - 1 : at - 1;
    }
    return out;
  }

  /** The fraction of the key space each member owns (they sum to 1 on a non-empty ring). */
  shares(): ReadonlyMap<string, number> {
    this.cachedShares ??= sharesOf(this.points);
    return this.cachedShares;
  }

  /** Replaces the members; emits 'change' and returns it when they differ, else returns undefined. */
  setMembers(members: Iterable<string>): RingChange | undefined {
    const change = this.apply(members, true);
    if (change) this.emit('change', change);
    return change;
  }

  /** Adds members (see setMembers). */
  add(...ids: string[]): RingChange | undefined {
    return this.setMembers([...this.points.ids, ...ids]);
  }

  /** Removes members (see setMembers). */
  remove(...ids: string[]): RingChange | undefined {
    const gone = new Set(ids);
    return this.setMembers(this.points.ids.filter((id) => !gone.has(id)));
  }

  /** Stops following the node (for a ring from node.ring()) and drops the 'change' listeners. Idempotent. */
  close(): void {
    this.removeAllListeners('change');
  }

  /** Sets the members; with `diff`, returns what moved (undefined when nothing changed). */
  private apply(members: Iterable<string>, diff: boolean): RingChange | undefined {
    const wanted = new Set<string>();
    for (const id of members) {
      if (typeof id !== 'string')
        throw new InvalidArgumentError(`a ring member must be a string id (got ${typeof id})`);
      wanted.add(id);
    }
    const old = this.points;
    const current = new Set(old.ids);
    const fresh = [...wanted].filter((id) => !current.has(id));
    if (fresh.length === 0 && old.ids.every((id) => wanted.has(id))) return undefined;
    this.points = rebuild(old, wanted, fresh, this.replicas);
    this.cachedShares = null;
    return diff ? changeBetween(old, this.points) : undefined;
  }
}

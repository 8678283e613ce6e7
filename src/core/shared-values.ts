/**
 * A member's small key-value map, shared by every peer table that holds the same identity object with the same
 * values. Every protocol-7 member carries three reserved keys (gate.ts, reserved-keys.ts), so a 10,000-node
 * simulation would hold 10^8 maps of three entries, about 220 B each with their StoredValue objects; the nodes of a
 * simulation are handed one identity object per member incarnation (messages are passed, not encoded, as in
 * member-records.ts) and converge on the same values, so they can hold one map per member instead.
 *
 * The rule that keeps this invisible: a map handed out by `intern` is never written again. A table about to change
 * a member's values asks `writable` first, which gives back a copy (same order, same entry objects) when the map is
 * shared. Peers' StoredValue objects are never written after they are stored (only the owner's, in OwnValues, which
 * holds its own map and never comes here), so entries may be shared too. A map is swapped for the shared one only
 * when the two hold the same keys in the same order with the same value, version and tombstone, which is all a
 * peer's map is read for (expiresAt and deletedAt matter only on the owner).
 *
 * A table handed its own identity objects (a runtime decodes every identity afresh) shares with nobody: its maps
 * stay its own, at the cost of one weak entry per member.
 */
import type { NodeIdentity } from '../wire/messages.js';
import type { StoredValue } from './peer-table.js';

/**
 * Maps with more keys than this are never shared: copying one on each change would cost O(keys) per delta, and the
 * members that carry that many keys are few.
 */
export const MAX_SHARED_KEYS = 8;

/** Weak: a shared map lives as long as some table holds it, and the entry as long as its identity. */
const latest = new WeakMap<NodeIdentity, Map<string, StoredValue>>();
const shared = new WeakSet<Map<string, StoredValue>>();

/** `map` itself when no other table may hold it, else a private copy to write to (the caller stores it). */
export function writable(map: Map<string, StoredValue>): Map<string, StoredValue> {
  return shared.has(map) ? new Map(map) : map;
}

/** Whether `map` is shared (handed out by intern): writing it in place would change other tables. */
export function isShared(map: ReadonlyMap<string, StoredValue>): boolean {
  return shared.has(map as Map<string, StoredValue>);
}

/**
 * The map to hold for `identity` after a change left it as `map`: the shared one when its content is the same,
 * else `map`, which becomes the shared one (if small enough) and must not be written again (see writable).
 */
export function intern(identity: NodeIdentity, map: Map<string, StoredValue>): Map<string, StoredValue> {
  if (map.size > MAX_SHARED_KEYS || shared.has(map)) return map;
  const held = latest.get(identity);
  if (held !== undefined && sameContent(held, map)) return held;
  latest.set(identity, map);
  shared.add(map);
  return map;
}

function sameContent(a: ReadonlyMap<string, StoredValue>, b: ReadonlyMap<string, StoredValue>): boolean {
  if (a.size !== b.size) return false;
  const ia = a.entries();
  for (const [key, v] of b) {
    const [k, u] = ia.next().value as [string, StoredValue];
    if (k !== key || u.value !== v.value || u.version !== v.version || u.tombstone !== v.tombstone) return false;
  }
  return true;
}

/**
 * A Map used as a least-recently-used table: its insertion order is the use order, oldest first, so
 * the first key is the one to forget and a use re-inserts its entry at the end.
 */

/** Forgets the least recently used entry when the table is full, so one more fits. */
export function makeRoom<K, V>(table: Map<K, V>, capacity: number): void {
  if (table.size >= capacity) table.delete(table.keys().next().value as K);
}

/** Stores `value` under `key` as the most recently used entry. */
export function touch<K, V>(table: Map<K, V>, key: K, value: V): void {
  table.delete(key);
  table.set(key, value);
}

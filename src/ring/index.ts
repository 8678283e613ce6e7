/**
 * The consistent-hash ring (docs/building-on-membership.md, "Hash ring"): standalone over member ids, or
 * following a node's live members through node.ring().
 */
export { DEFAULT_REPLICAS, HashRing, MAX_REPLICAS, type HashRingEvents, type HashRingOptions } from './hash-ring.js';
export { ringPosition } from './hash.js';
export type { RingChange, RingRange } from './change.js';
export { followMembers, type RingOptions, type RingSource } from './follow.js';

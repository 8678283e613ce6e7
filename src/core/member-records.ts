/**
 * What a peer table holds per member by reference: its identity, its leave commitment and the identity's encoded
 * size, in one immutable record shared by every table that holds the same identity object with the same commitment.
 * The simulator hands one identity object and one commitment object per incarnation to every node (messages are
 * passed, not encoded), so its 10^8 (node, member) pairs at 10,000 nodes share 10^4 records and pay one pointer
 * each, where an identity column and a commitment column cost two. A table that is handed different objects (a
 * runtime decodes every identity afresh) simply gets records of its own; which one it gets changes nothing it reads.
 */
import { identitySize } from '../wire/codec.js';
import type { NodeIdentity } from '../wire/messages.js';

export interface MemberRecord {
  readonly identity: NodeIdentity;
  /** The leave commitment, the first one heard for this incarnation (null: none heard). */
  readonly commitment: Uint8Array | null;
  /** Bytes of the identity on the wire (codec's identitySize). */
  readonly size: number;
}

interface Shared {
  readonly bare: MemberRecord;
  /** The record with the commitment tables have mostly heard (the first one asked for). */
  committed: MemberRecord | null;
}

/** Weak: a record lives as long as some table (or message) holds its identity. */
const shared = new WeakMap<NodeIdentity, Shared>();

/** The record of `identity` with `commitment`: a shared one when the same objects were asked for before. */
export function memberRecord(identity: NodeIdentity, commitment: Uint8Array | null): MemberRecord {
  let entry = shared.get(identity);
  if (entry === undefined) {
    entry = { bare: { identity, commitment: null, size: identitySize(identity) }, committed: null };
    shared.set(identity, entry);
  }
  if (commitment === null) return entry.bare;
  const c = entry.committed;
  if (c !== null && c.commitment === commitment) return c;
  const record = { identity, commitment, size: entry.bare.size };
  entry.committed ??= record;
  return record;
}

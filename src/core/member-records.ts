/**
 * What a peer table holds per member by reference: its identity, its leave commitment, protocol 7's report-signing
 * public key and the identity's encoded size, in one immutable record shared by every table that holds the same
 * identity object with the same commitment and key.
 * The simulator hands one identity object, one commitment object and one key object per incarnation to every node
 * (messages are passed, not encoded), so its 10^8 (node, member) pairs at 10,000 nodes share 10^4 records and pay
 * one pointer each, where an identity column and a commitment column cost two and a map of keys by ref 44 B. A
 * table that is handed different objects (a runtime decodes every identity afresh) simply gets records of its own;
 * which one it gets changes nothing it reads.
 */
import { identitySize } from '../wire/codec.js';
import type { NodeIdentity } from '../wire/messages.js';
import { identityRef } from './identity.js';

export interface MemberRecord {
  readonly identity: NodeIdentity;
  /** The leave commitment, the first one heard for this incarnation (null: none heard). */
  readonly commitment: Uint8Array | null;
  /** The report-signing public key, the first one heard for this incarnation (null: none held). */
  readonly publicKey: Uint8Array | null;
  /** Bytes of the identity on the wire (codec's identitySize). */
  readonly size: number;
  /**
   * The identity's ref (identityRef), worked out once per identity: a ref column in every table cost 8 B per
   * (node, member) pair in the simulator, where the record is shared.
   */
  readonly ref: number;
}

interface Shared {
  readonly bare: MemberRecord;
  /**
   * Records with a commitment or a key, the first few asked for: tables mostly hear the same commitment and key
   * for an incarnation, so a handful covers the stages (key alone, commitment alone, both) they pass through.
   */
  readonly variants: MemberRecord[];
}

const MAX_VARIANTS = 4;

/** Weak: a record lives as long as some table (or message) holds its identity. */
const shared = new WeakMap<NodeIdentity, Shared>();

/** The record of `identity` with `commitment` and `publicKey`: a shared one when the same objects were asked before. */
export function memberRecord(
  identity: NodeIdentity,
  commitment: Uint8Array | null,
  publicKey: Uint8Array | null = null,
): MemberRecord {
  let entry = shared.get(identity);
  if (entry === undefined) {
    const bare = {
      identity,
      commitment: null,
      publicKey: null,
      size: identitySize(identity),
      ref: identityRef(identity),
    };
    entry = { bare, variants: [] };
    shared.set(identity, entry);
  }
  if (commitment === null && publicKey === null) return entry.bare;
  for (const v of entry.variants) if (v.commitment === commitment && v.publicKey === publicKey) return v;
  const record = { identity, commitment, publicKey, size: entry.bare.size, ref: entry.bare.ref };
  if (entry.variants.length < MAX_VARIANTS) entry.variants.push(record);
  return record;
}

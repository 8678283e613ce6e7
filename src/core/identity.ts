import type { NodeIdentity } from '../wire/messages.js';

const REF_SPACE = 2 ** 48;

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A node's 48-bit reference: a hash of (id, generation, address). Digests and bumps name nodes
 * by ref instead of repeating identities; the full identity travels once, in the delta that
 * introduces a node. 48 bits make a collision among 10,000 members about 2e-7 likely.
 */
export function identityRef(identity: NodeIdentity): number {
  return hash48(`${identity.id}\u0000${identity.generation}\u0000${identity.address}`);
}

/** A 48-bit hash of a node id alone, to find any generation of it. */
export function idKey(id: string): number {
  return hash48(id);
}

function hash48(text: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
  }
  const a = mix32(h1 ^ Math.imul(h2, 0x9e3779b1));
  const b = mix32(h2 + 0x7f4a7c15);
  return (a * 0x10000 + (b >>> 16)) % REF_SPACE;
}

/** The membership hash: a sum of refs modulo 2^48, so adding and removing a member are O(1). */
export function addToSetHash(hash: number, ref: number): number {
  return (hash + ref) % REF_SPACE;
}

export function removeFromSetHash(hash: number, ref: number): number {
  return (hash - ref + REF_SPACE) % REF_SPACE;
}

export function sameIdentity(a: NodeIdentity, b: NodeIdentity): boolean {
  return a.id === b.id && a.generation === b.generation && a.address === b.address;
}

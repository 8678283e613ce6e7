import type { NodeIdentity } from '../wire/messages.js';

const REF_SPACE = 2 ** 48;

/** A 32-bit avalanche mix (MurmurHash3's finaliser). */
export function mix32(h: number): number {
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
  // The hash of `${id}\0${generation}\0${address}`, fed part by part: a large cluster's bootstrap
  // checks a ref for every member it admits (10,000 nodes: 100 million), so it builds no strings.
  const { id, generation, address } = identity;
  const digits = decimalDigits(generation);
  // Not a plain integer (never from the runtime or the wire): its string form, hashed as text.
  const text = digits < 0 ? String(generation) : '';
  const h = new Hash48(id.length + (digits < 0 ? text.length : digits) + address.length + 2);
  h.add(id);
  h.addChar(0);
  if (digits < 0) h.add(text);
  else for (let i = digits - 1; i >= 0; i--) h.addChar(48 + (DIGITS[i] as number));
  h.addChar(0);
  h.add(address);
  return h.digest();
}

/** Scratch for decimalDigits: the digits of the last number, least significant first. */
const DIGITS = new Uint8Array(16);

/** Writes n's decimal digits into DIGITS and returns their count; -1 unless n is an integer in [0, 2^53). */
function decimalDigits(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return -1;
  let k = 0;
  do {
    const d = n % 10;
    DIGITS[k++] = d;
    n = (n - d) / 10; // exact: n - d is a multiple of ten
  } while (n > 0);
  return k;
}

/** A 48-bit hash of a node id alone, to find any generation of it. */
export function idKey(id: string): number {
  const h = new Hash48(id.length);
  h.add(id);
  return h.digest();
}

/** Two 32-bit FNV/murmur-style lanes over UTF-16 code units, mixed into 48 bits. */
class Hash48 {
  private h1 = 0x811c9dc5;
  private h2: number;

  constructor(length: number) {
    this.h2 = 0x01000193 ^ length;
  }

  addChar(c: number): void {
    this.h1 = Math.imul(this.h1 ^ c, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ c, 0x5bd1e995) ^ (this.h2 >>> 15);
  }

  add(text: string): void {
    for (let i = 0; i < text.length; i++) this.addChar(text.charCodeAt(i));
  }

  digest(): number {
    const a = mix32(this.h1 ^ Math.imul(this.h2, 0x9e3779b1));
    const b = mix32(this.h2 + 0x7f4a7c15);
    return (a * 0x10000 + (b >>> 16)) % REF_SPACE;
  }
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

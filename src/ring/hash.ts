/**
 * The ring's hash: a 64-bit function of a key's bytes that every node, and a client in another language,
 * computes alike. It is FNV-1a 64 over the key's UTF-8 bytes (a string) or its bytes as given (a
 * Uint8Array), followed by MurmurHash3's 64-bit finaliser (fmix64). FNV-1a alone is simple and fast but
 * mixes its last bytes into the low bits only, and a ring position is read from the high bits first: the
 * finaliser spreads every input bit over all 64. docs/building-on-membership.md gives test vectors.
 *
 * JavaScript has no fast 64-bit integer (BigInt allocates), so the state is two unsigned 32-bit halves and
 * the products are assembled from 16-bit limbs. The result of the last call is left in `hashHi`/`hashLo`
 * rather than returned in an object, so the per-request path allocates nothing.
 */

/** High 32 bits of the last hash computed. */
export let hashHi = 0;
/** Low 32 bits of the last hash computed. */
export let hashLo = 0;

// FNV-1a 64 offset basis 0xcbf29ce484222325; prime 0x100000001b3 = 2^40 + 0x1b3.
const BASIS_HI = 0xcbf29ce4;
const BASIS_LO = 0x84222325;
const PRIME_LO = 0x1b3;
const TWO_32 = 4294967296;

/** The high 32 bits of the 64-bit product of two unsigned 32-bit numbers. */
function mulHigh(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

let stateHi = 0;
let stateLo = 0;

function fnvByte(byte: number): void {
  const lo = (stateLo ^ byte) >>> 0;
  // (hi, lo) * (2^40 + 0x1b3) mod 2^64: lo * 0x1b3 < 2^41 is exact in a double.
  const carry = Math.floor((lo * PRIME_LO) / TWO_32);
  stateHi = (Math.imul(stateHi, PRIME_LO) + carry + (lo << 8)) >>> 0;
  stateLo = Math.imul(lo, PRIME_LO) >>> 0;
}

/** (hi, lo) *= (bh, bl) mod 2^64, in stateHi/stateLo. */
function mulState(bh: number, bl: number): void {
  const hi = stateHi;
  const lo = stateLo;
  stateHi = (mulHigh(lo, bl) + Math.imul(lo, bh) + Math.imul(hi, bl)) >>> 0;
  stateLo = Math.imul(lo, bl) >>> 0;
}

/** MurmurHash3's fmix64: k ^= k >> 33; k *= 0xff51afd7ed558ccd; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53; k ^= k >> 33. */
function finish(): void {
  stateLo = (stateLo ^ (stateHi >>> 1)) >>> 0;
  mulState(0xff51afd7, 0xed558ccd);
  stateLo = (stateLo ^ (stateHi >>> 1)) >>> 0;
  mulState(0xc4ceb9fe, 0x1a85ec53);
  stateLo = (stateLo ^ (stateHi >>> 1)) >>> 0;
  hashHi = stateHi;
  hashLo = stateLo;
}

/**
 * Hashes a string's UTF-8 encoding (a lone surrogate counts as U+FFFD, as TextEncoder encodes it) into
 * hashHi/hashLo, without building the bytes.
 */
export function hashString(s: string): void {
  stateHi = BASIS_HI;
  stateLo = BASIS_LO;
  feedString(s);
  finish();
}

/** Feeds a string's UTF-8 bytes into the state. */
function feedString(s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      fnvByte(c);
      continue;
    }
    if (c < 0x800) {
      fnvByte(0xc0 | (c >>> 6));
      fnvByte(0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        fnvByte(0xf0 | (c >>> 18));
        fnvByte(0x80 | ((c >>> 12) & 0x3f));
        fnvByte(0x80 | ((c >>> 6) & 0x3f));
        fnvByte(0x80 | (c & 0x3f));
        continue;
      }
      c = 0xfffd;
    }
    fnvByte(0xe0 | (c >>> 12));
    fnvByte(0x80 | ((c >>> 6) & 0x3f));
    fnvByte(0x80 | (c & 0x3f));
  }
}

let pointId: string | null = null;
let pointHi = 0;
let pointLo = 0;

/**
 * Hashes the string `${id}#${i}` (a member's virtual node) into hashHi/hashLo: the state after "id#" is kept
 * between calls for the same id, so a member's points cost their digits only.
 */
export function hashPoint(id: string, i: number): void {
  if (id !== pointId) {
    stateHi = BASIS_HI;
    stateLo = BASIS_LO;
    feedString(id);
    fnvByte(0x23);
    [pointId, pointHi, pointLo] = [id, stateHi, stateLo];
  } else {
    stateHi = pointHi;
    stateLo = pointLo;
  }
  let unit = 1;
  while (unit * 10 <= i) unit *= 10;
  for (; unit >= 1; unit = Math.floor(unit / 10)) fnvByte(0x30 + (Math.floor(i / unit) % 10));
  finish();
}

/** Hashes bytes as given into hashHi/hashLo. */
export function hashBytes(bytes: Uint8Array): void {
  stateHi = BASIS_HI;
  stateLo = BASIS_LO;
  for (let i = 0; i < bytes.length; i++) fnvByte(bytes[i] as number);
  finish();
}

/** Hashes a key (a string by its UTF-8 bytes) into hashHi/hashLo. */
export function hashKey(key: string | Uint8Array): void {
  if (typeof key === 'string') hashString(key);
  else hashBytes(key);
}

/** A 64-bit position as 16 lower-case hex digits. */
export function toHex(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/**
 * Where a key falls on the ring: its 64-bit hash as 16 lower-case hex digits (a string key hashes as its
 * UTF-8 bytes). Compare with a {@link RingChange}'s range bounds to tell whether a key moved, or with
 * another implementation of the hash.
 */
export function ringPosition(key: string | Uint8Array): string {
  hashKey(key);
  return toHex(hashHi, hashLo);
}

/**
 * Sizes of the wire primitives, shared by the encoder and by the core's byte-budget packing
 * (the core must know what an item will cost before it decides to include it).
 */

/** Unsigned LEB128 length of an integer in [0, 2^53). */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  if (value < 0x800000000) return 5;
  if (value < 0x40000000000) return 6;
  if (value < 0x2000000000000) return 7;
  return 8;
}

/**
 * UTF-8 length of a JS string without allocating (lone surrogates count as U+FFFD, 3 bytes, as TextEncoder writes
 * them).
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** A length-prefixed UTF-8 string. */
export function stringSize(s: string): number {
  const len = utf8Length(s);
  return varintSize(len) + len;
}

/** Node refs are 48-bit hashes, written as 6 bytes. */
export const REF_BYTES = 6;
export const MAX_SAFE_VARINT = Number.MAX_SAFE_INTEGER;

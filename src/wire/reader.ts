import { DecodeError } from './errors.js';
import { REF_BYTES } from './varint.js';

// ignoreBOM: a string that starts with U+FEFF keeps it (the default strips it, and the string would not round-trip).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A bounds-checked cursor: every read checks the remaining length first and fails with a DecodeError. */
export class Reader {
  private pos = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  u8(what: string): number {
    if (this.pos >= this.bytes.length) throw new DecodeError('truncated', `${what}: need 1 byte, have 0`);
    return this.bytes[this.pos++] as number;
  }

  varint(what: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.bytes.length) throw new DecodeError('truncated', `${what}: varint cut short`);
      const b = this.bytes[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) throw new DecodeError('bad-varint', `${what}: non-minimal varint`);
        if (result > Number.MAX_SAFE_INTEGER) throw new DecodeError('bad-varint', `${what}: above 2^53`);
        return result;
      }
      scale *= 0x80;
    }
    throw new DecodeError('bad-varint', `${what}: longer than 8 bytes`);
  }

  ref(what: string): number {
    return this.littleEndian(what, REF_BYTES);
  }

  u16(what: string): number {
    return this.littleEndian(what, 2);
  }

  u32(what: string): number {
    return this.littleEndian(what, 4);
  }

  private littleEndian(what: string, bytes: number): number {
    if (this.remaining < bytes)
      throw new DecodeError('truncated', `${what}: need ${bytes} bytes, have ${this.remaining}`);
    let v = 0;
    let scale = 1;
    for (let i = 0; i < bytes; i++) {
      v += (this.bytes[this.pos++] as number) * scale;
      scale *= 256;
    }
    return v;
  }

  /** `n` bytes, copied (a message keeps no view of the packet it came in). */
  raw(n: number, what: string): Uint8Array {
    if (this.remaining < n) throw new DecodeError('truncated', `${what}: need ${n} bytes, have ${this.remaining}`);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(what: string): string {
    const len = this.varint(`${what} length`);
    if (len > this.remaining)
      throw new DecodeError('truncated', `${what}: length ${len} exceeds the ${this.remaining} bytes left`);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return decoder.decode(slice);
    } catch {
      throw new DecodeError('bad-utf8', `${what}: not valid UTF-8`);
    }
  }

  /**
   * A count of items that each take at least `minItemBytes`: refused before anything is allocated
   * when the rest of the packet cannot hold that many, so no length field can make us allocate
   * more than the packet's own size.
   */
  count(what: string, minItemBytes: number): number {
    const n = this.varint(what);
    if (n * minItemBytes > this.remaining) {
      throw new DecodeError('too-large', `${what}: ${n} items cannot fit in the ${this.remaining} bytes left`);
    }
    return n;
  }
}

import { REF_BYTES, utf8Length } from './varint.js';

const encoder = new TextEncoder();

/** Writes into a buffer sized exactly beforehand (the size pass and the write pass must agree). */
export class Writer {
  readonly bytes: Uint8Array;
  private pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  get offset(): number {
    return this.pos;
  }

  u8(v: number): void {
    this.bytes[this.pos++] = v;
  }

  varint(value: number): void {
    let v = value;
    // Division instead of shifts: values go up to 2^53, beyond 32-bit bit operations.
    while (v >= 0x80) {
      this.bytes[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.bytes[this.pos++] = v;
  }

  ref(value: number): void {
    this.littleEndian(value, REF_BYTES);
  }

  u16(value: number): void {
    this.littleEndian(value, 2);
  }

  u32(value: number): void {
    this.littleEndian(value, 4);
  }

  private littleEndian(value: number, bytes: number): void {
    let v = value;
    for (let i = 0; i < bytes; i++) {
      this.bytes[this.pos++] = v % 256;
      v = Math.floor(v / 256);
    }
  }

  raw(b: Uint8Array): void {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    // encodeInto writes straight into our buffer; the length prefix is computed without encoding twice.
    this.varint(utf8Length(s));
    const { written } = encoder.encodeInto(s, this.bytes.subarray(this.pos));
    this.pos += written;
  }
}

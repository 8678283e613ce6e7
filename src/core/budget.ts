/**
 * A byte budget being filled: the one place that decides whether the next item still fits a packet.
 * Digests, requests, deltas and bumps are all packed item by item until the first that would overflow.
 */
export class Budget {
  constructor(
    readonly limit: number,
    public used = 0,
  ) {}

  /** Whether `size` more bytes fit. */
  fits(size: number): boolean {
    return this.used + size <= this.limit;
  }

  /** Takes `size` bytes if they fit; false (and nothing taken) otherwise. */
  take(size: number): boolean {
    if (this.used + size > this.limit) return false;
    this.used += size;
    return true;
  }

  get left(): number {
    return this.limit - this.used;
  }
}

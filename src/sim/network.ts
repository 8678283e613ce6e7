/**
 * The simulated network: latency with jitter, random or bursty loss, partitions, one-way cuts.
 * Bursty loss is a Gilbert–Elliott chain per receiver (a receiver's link goes bad and drops
 * everything for a burst): with loss rate P and mean burst length B packets, a bad link recovers
 * with probability 1/B per packet and a good one turns bad with probability P / (B (1 − P)).
 */
import type { Random } from '../core/types.js';

export interface NetworkConfig {
  /** One-way latency, ms. */
  latencyMs: number;
  /** Uniform extra delay in [0, jitterMs): also reorders packets. */
  jitterMs: number;
  /** Long-run fraction of packets lost. */
  loss: number;
  /** Mean burst length in packets; 1 or less means independent (random) loss. */
  burst: number;
  /** Probability that a delivered packet arrives twice (a second copy with its own delay); 0 when absent. */
  duplicate?: number;
}

export class SimNetwork {
  private readonly bad: Uint8Array;
  private readonly group: Int32Array;
  /** 1: everything sent to this node is lost (its inbound link is down; what it sends still arrives). */
  private readonly deaf: Uint8Array;
  /** Senders a cut inbound link still lets through, per cut node (see cutInbound). */
  private readonly leaks = new Map<number, Set<number>>();
  private readonly pGoodToBad: number;
  private readonly pBadToGood: number;
  sent = 0;
  lost = 0;

  constructor(
    nodes: number,
    public config: NetworkConfig,
    private readonly rng: Random,
  ) {
    this.bad = new Uint8Array(nodes);
    this.group = new Int32Array(nodes);
    this.deaf = new Uint8Array(nodes);
    const { loss, burst } = config;
    this.pBadToGood = burst > 1 ? 1 / burst : 1;
    this.pGoodToBad = burst > 1 && loss < 1 ? loss / (burst * (1 - loss)) : loss;
  }

  /** Splits nodes into groups that cannot reach each other; heal() joins them again. */
  partition(groups: readonly (readonly number[])[]): void {
    groups.forEach((g, gi) => g.forEach((n) => (this.group[n] = gi + 1)));
  }

  /**
   * Cuts these nodes' inbound links only: they go on sending and hear nothing, until heal(); nothing
   * but what `except` send them, if given (a burst that lets a few packets through).
   */
  cutInbound(nodes: readonly number[], except: readonly number[] = []): void {
    for (const n of nodes) {
      this.deaf[n] = 1;
      if (except.length > 0) this.leaks.set(n, new Set(except));
    }
  }

  /** Ends partitions and one-way cuts. */
  heal(): void {
    this.group.fill(0);
    this.deaf.fill(0);
    this.leaks.clear();
  }

  /** Decides the fate of one packet: its delivery delay, or -1 when it is lost. */
  transmit(from: number, to: number): number {
    this.sent++;
    if (this.group[from] !== this.group[to] || (this.deaf[to] === 1 && this.leaks.get(to)?.has(from) !== true)) {
      this.lost++;
      return -1;
    }
    let dropped: boolean;
    if (this.config.burst > 1) {
      const wasBad = this.bad[to] === 1;
      if (wasBad) {
        if (this.rng.next() < this.pBadToGood) this.bad[to] = 0;
      } else if (this.rng.next() < this.pGoodToBad) this.bad[to] = 1;
      dropped = this.bad[to] === 1;
    } else {
      dropped = this.config.loss > 0 && this.rng.next() < this.config.loss;
    }
    if (dropped) {
      this.lost++;
      return -1;
    }
    return this.delay();
  }

  /**
   * Delay of a duplicate copy of a delivered packet, or -1 for none. Draws nothing when duplication is off, so runs
   * without it replay unchanged.
   */
  duplicateDelay(): number {
    const p = this.config.duplicate ?? 0;
    if (p <= 0 || this.rng.next() >= p) return -1;
    return this.delay();
  }

  private delay(): number {
    return this.config.latencyMs + (this.config.jitterMs > 0 ? this.rng.next() * this.config.jitterMs : 0);
  }
}

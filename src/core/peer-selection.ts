/**
 * Whom a round gossips with: `fanout` live members at random, now and then a dead one (so a healed
 * partition or a revived node is noticed) and, when alone or rarely otherwise, a seed (which re-joins
 * partitions whose members were already removed).
 */
import type { Membership } from './membership.js';
import { DEAD, LIVE } from './peer-table.js';
import { randomInt, shuffle } from './random.js';
import type { Random } from './types.js';

export class PeerSelection {
  private seedList: string[] = [];

  constructor(
    private readonly membership: Membership,
    private readonly rng: Random,
    private readonly fanout: number,
  ) {}

  get seeds(): readonly string[] {
    return this.seedList;
  }

  setSeeds(addresses: readonly string[]): void {
    this.seedList = [...new Set(addresses)].filter((a) => a !== this.membership.self.address);
  }

  /** This round's peers, as addresses. */
  select(): string[] {
    const m = this.membership;
    const t = m.table;
    const chosen: number[] = [];
    const fanout = this.fanout;
    if (m.liveOthers <= fanout * 2) {
      for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE) chosen.push(s);
      shuffle(chosen, this.rng);
      chosen.length = Math.min(chosen.length, fanout);
    } else {
      // Most slots are live: rejection sampling is O(fanout) instead of a scan of the table.
      for (let attempts = 0; chosen.length < fanout && attempts < fanout * 64; attempts++) {
        const s = 1 + randomInt(this.rng, t.used - 1);
        if (t.status[s] === LIVE && !chosen.includes(s)) chosen.push(s);
      }
      // A table full of freed or dead slots can defeat sampling: fall back to a scan.
      if (chosen.length < fanout) {
        const rest: number[] = [];
        for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE && !chosen.includes(s)) rest.push(s);
        shuffle(rest, this.rng);
        chosen.push(...rest.slice(0, fanout - chosen.length));
      }
    }
    const addresses = chosen.map((s) => m.address(s));
    if (m.deadOthers > 0 && this.rng.next() < m.deadOthers / (m.liveOthers + 1)) {
      const dead: number[] = [];
      for (let s = 1; s < t.used; s++) if (t.status[s] === DEAD && t.left[s] === 0) dead.push(s);
      if (dead.length > 0) {
        const address = m.address(dead[randomInt(this.rng, dead.length)] as number);
        if (!addresses.includes(address)) addresses.push(address);
      }
    }
    const seeds = this.seedList;
    if (seeds.length > 0 && (m.liveOthers === 0 || this.rng.next() < seeds.length / (m.liveOthers + m.deadOthers + 1))) {
      const seed = seeds[randomInt(this.rng, seeds.length)] as string;
      if (!addresses.includes(seed)) addresses.push(seed);
    }
    return addresses;
  }
}

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

  /**
   * This round's peers, as addresses: `fanout` live members, proven ones (Membership.isProven)
   * first. Members a sender made up never heartbeat; picked as often as real ones, a flood of them
   * would leave real members' heartbeats travelling too rarely for their detectors (a few real
   * members among hundreds of fakes go unheard for seconds). A real member proves itself within a
   * round or two of being admitted (its next heartbeat reaches us), and until then it still gossips
   * itself with its own picks, so a joiner spreads as fast as before. Members known only at their
   * admission heartbeat fill the round when fewer proven ones are left, as at a cold start.
   */
  select(): string[] {
    const m = this.membership;
    const t = m.table;
    const fanout = this.fanout;
    let chosen: number[] = [];
    if (m.provenOthers > fanout * 2 && m.liveOthers > fanout * 2) {
      // Most slots are proven: rejection sampling is O(fanout) instead of a scan of the table.
      for (let attempts = 0; chosen.length < fanout && attempts < fanout * 64; attempts++) {
        const s = 1 + randomInt(this.rng, t.used - 1);
        if (t.status[s] === LIVE && m.isProven(s) && !chosen.includes(s)) chosen.push(s);
      }
    }
    // Few members, few proven ones, or a table full of freed, dead or unproven slots (which can
    // defeat sampling): a scan, proven members first.
    if (chosen.length < fanout) chosen = this.scan(chosen);
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

  /** `chosen` topped up to `fanout` at random from the live slots, the proven ones before the rest. */
  private scan(chosen: number[]): number[] {
    const m = this.membership;
    const t = m.table;
    const proven: number[] = [];
    const unproven: number[] = [];
    for (let s = 1; s < t.used; s++) {
      if (t.status[s] !== LIVE || chosen.includes(s)) continue;
      if (m.isProven(s)) proven.push(s);
      else unproven.push(s);
    }
    shuffle(proven, this.rng);
    const out = [...chosen, ...proven];
    if (out.length < this.fanout && unproven.length > 0) {
      shuffle(unproven, this.rng);
      out.push(...unproven);
    }
    out.length = Math.min(out.length, this.fanout);
    return out;
  }
}

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
   * This round's peers, as addresses: `fanout` live members, all but one drawn from the proven ones
   * (Membership.isProven), the last from every live member. Members a sender made up never
   * heartbeat; picked as often as real ones, a flood of them would leave real members' heartbeats
   * travelling too rarely for their detectors (a few real members among hundreds of fakes go
   * unheard for seconds). A real member proves itself within a round or two of being admitted (its
   * next heartbeat reaches us). The last peer stays uniform because proven sets are not random while
   * a cluster forms: every node proves the members it heard first, and drawing only from those
   * would leave late members' views to fill by their own SYNs. With a fanout of one, that one is
   * proven. Unproven members also fill the round when fewer proven ones are left (a cold start).
   */
  select(): string[] {
    const m = this.membership;
    const t = m.table;
    const fanout = this.fanout;
    // All but one peer from the proven members; the last from every live member.
    const provenSlots = Math.max(1, fanout - 1);
    let chosen: number[] = [];
    if (m.provenOthers > fanout * 2 && m.liveOthers > fanout * 2) {
      // Most slots are proven: rejection sampling is O(fanout) instead of a scan of the table.
      for (let attempts = 0; chosen.length < fanout && attempts < fanout * 64; attempts++) {
        const s = 1 + randomInt(this.rng, t.used - 1);
        if (t.status[s] === LIVE && (chosen.length >= provenSlots || m.isProven(s)) && !chosen.includes(s))
          chosen.push(s);
      }
    }
    // Few members, few proven ones, or a table full of freed, dead or unproven slots (which can
    // defeat sampling): a scan, proven members first.
    if (chosen.length < fanout) chosen = this.scan(chosen, provenSlots);
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
    if (
      seeds.length > 0 &&
      (m.liveOthers === 0 || this.rng.next() < seeds.length / (m.liveOthers + m.deadOthers + 1))
    ) {
      const seed = seeds[randomInt(this.rng, seeds.length)] as string;
      if (!addresses.includes(seed)) addresses.push(seed);
    }
    return addresses;
  }

  /**
   * `chosen` topped up to `fanout` at random from the live slots: up to `provenSlots` from the
   * proven ones, the rest from every live slot left (proven ones only when unproven ones are too
   * few to fill it, as at a cold start).
   */
  private scan(chosen: number[], provenSlots: number): number[] {
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
    const take = Math.max(0, Math.min(proven.length, provenSlots - chosen.length));
    const out = [...chosen, ...proven.slice(0, take)];
    // With every member proven this is one shuffle of them all, as uniform selection draws.
    let rest = proven.slice(take);
    if (unproven.length > 0) {
      rest = rest.concat(unproven);
      shuffle(rest, this.rng);
    }
    out.push(...rest.slice(0, Math.max(0, this.fanout - out.length)));
    return out;
  }
}

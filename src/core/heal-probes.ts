/**
 * The rounds of probes that follow evidence of a heal (docs/design/liveness-7.md, "Heal"): a member that held us
 * dead reached us, a member held dead came back, or this node entered mode 7 holding members dead. Liveness7's own
 * dead-here probe goes to one member a round at most, with probability dead / (live + 1), which revives the other side
 * of a healed partition one member per probe: tens of seconds for a side of tens. For HEAL_ROUNDS rounds after such
 * evidence, this node probes its share of the members it holds dead (healProbeCount); each probe makes its member
 * refute, and the refutation revives it everywhere.
 */
import { healProbeCount } from './liveness7-parts.js';
import { randomInt } from './random.js';
import type { Random } from './types.js';

/** After evidence of a heal, members held dead are probed for this many rounds (healProbeCount: how many). */
export const HEAL_ROUNDS = 3;

export class HealProbes {
  /** Rounds left in which members held dead are probed. */
  private rounds = 0;
  /** Members revived since these rounds began: they are not this node's side (healProbeCount). */
  private returned = 0;

  /** Evidence of a heal: HEAL_ROUNDS (more) rounds of probes; `returned` members came back by it. */
  heal(returned: number): void {
    if (this.rounds === 0) this.returned = 0;
    this.returned += returned;
    this.rounds = HEAL_ROUNDS;
  }

  /**
   * A round: in a heal's rounds, the members to probe, drawn at random from `dead()` (members held dead and not left;
   * asked only then), this node's share of them given `liveOthers` members it holds live; else none.
   */
  take<T>(dead: () => T[], liveOthers: number, rng: Random): T[] {
    if (this.rounds === 0) return [];
    this.rounds--;
    const candidates = dead();
    const count = healProbeCount(candidates.length, liveOthers - this.returned);
    const picked: T[] = [];
    for (let k = 0; k < count && candidates.length > 0; k++) {
      const i = randomInt(rng, candidates.length);
      picked.push(candidates[i] as T);
      candidates[i] = candidates[candidates.length - 1] as T;
      candidates.pop();
    }
    return picked;
  }
}

/**
 * Protocol 7's partition rule: the census (docs/design/liveness-7.md, "The partition rule: the census").
 *
 * Reports cannot cross a partition, and a member whose neighbours all sit on its own side is reported by nobody
 * on the other. So a node holding unresolved reports starts a census: a pull-only roll call over the membership
 * sorted by ref, where bit i of every bitmap is member i. A participant pulls 3 members a quarter interval; a
 * reply (CENSUS) carries the responder's *present* and *reported* bitmaps, which the requester ORs into its own.
 * Presence moves only in replies, so a bit travels only along paths whose every hop went both ways: across a
 * one-way cut neither side sees the other present. At its end, a live member absent from the bitmap is convicted
 * `unreachable` when reported (when at most LONE_ABSENTEES are, only after a direct check), left live when a
 * neighbour of it is present (that neighbour would report it), and otherwise checked directly (up to 3
 * verification pulls a round apart: an answer makes it present).
 * One `Census` per node, pure: the caller sends what `pulls` returns (once every quarter interval, a census round),
 * hands replies to `onReply` and pulls to `onPull`. Per census: five N/8-byte bitmaps and the pending pull-backs.
 */
import { InvalidArgumentError } from '../errors.js';
import type { CensusMessage, CensusPullMessage } from '../wire/liveness-messages.js';
import {
  CENSUS_LONE_CHECK_ROUNDS,
  CENSUS_QUICK_CHECK_ROUNDS,
  CUT_TAIL_INTERVALS,
  LONE_ABSENTEES,
  checkSchedule,
  type CensusConfig,
  type CensusMembership,
  type CensusPull,
  type CensusVerdict,
} from './census-types.js';
import { bitmapBytes, countPresent, clearBit, hasBit, indexOfRef, orBits, pickBit, setBit } from './census-bits.js';
import type { Random } from './types.js';

export type { CensusConfig, CensusMembership, CensusPull, CensusVerdict } from './census-types.js';
export { CENSUS_LONE_CHECK_ROUNDS, CENSUS_VERIFY_TRIES, CUT_TAIL_INTERVALS, LONE_ABSENTEES } from './census-types.js';

/** Pulls a round (pull-back and candidates in the first two, the third uniform). */
export const CENSUS_PULLS = 3;
/** Pulls a round of a participant that knows nobody reachable yet, until a reply arrives. */
export const CENSUS_ISOLATED_PULLS = 8;
/** Rounds with replies and no growth after which a participant past its minimum duration ends. */
export const CENSUS_QUIET_ROUNDS = 4;

/**
 * C(n) = ceil(log2 n) + 4: a participant's minimum duration in rounds. A pull-only epidemic with pull-back
 * covers a side in about log2 n rounds; the 4 extra absorb losses (12 rounds at 200, 18 at 10,000).
 */
export function censusRounds(n: number): number {
  return Math.ceil(Math.log2(Math.max(2, n))) + 4;
}

type Phase = 'idle' | 'pulling' | 'verifying' | 'done';

/** One node's census participant (see the module comment). */
export class Census {
  private membership: CensusMembership | null = null;
  /** The membership of the census held (running or last completed). */
  private joined: CensusMembership | null = null;
  private phase: Phase = 'idle';
  private highest = 0;
  private completed = 0;
  private heldEpoch = 0;
  private present = new Uint8Array(0);
  private reportedBits = new Uint8Array(0);
  /** Candidates: members named in requests (from requesters already present) not yet tried. */
  private heard = new Uint8Array(0);
  /** Requesters queued for a pull-back, and the queue itself (member indices). */
  private queued = new Uint8Array(0);
  private pullBack: number[] = [];
  /** Pending direct checks (bits), verification rounds since the pulling ended, and the rounds that pull. */
  private verifying = new Uint8Array(0);
  private tries = 0;
  private checkRounds: readonly number[] = [];
  private checks = 0; // Absentees the verdict set to be checked (an answer clears a member's bit in `verifying`).
  /** Whether the census held found a cut, and when the last one that did ended here. */
  private cut = false;
  private cutEndedAtMs = -Infinity;
  private rounds = 0;
  private quiet = 0;
  private roundStartCount = 0;
  private repliesThisRound = 0;
  private repliesEver = 0;
  private presentCount = 0;
  private oneSince: number | null = null;
  private twoSince: number | null = null;
  private verdicts: CensusVerdict[] = [];
  /** The last reply built, shared until a bit changes: a node pulled by many in a round copies its bitmaps once. */
  private replyCache: CensusMessage | null = null;
  private joinedAtMs = Infinity;
  private completedAtMs = Infinity;

  /** `self`: this node's ref. */
  constructor(
    readonly self: number,
    private readonly config: CensusConfig,
  ) {}

  /** The current membership: a later census (started or joined) runs over it. */
  setMembership(m: CensusMembership): void {
    this.membership = m;
  }

  /** Records an epoch seen elsewhere (a SYN7's or a report set's), so this node's next census is newer. */
  noteEpoch(epoch: number): void {
    if (epoch > this.highest) this.highest = epoch;
  }

  /** The epoch to start a census with: the highest seen + 1. */
  get nextEpoch(): number {
    return this.highest + 1;
  }

  /** The newest epoch this node completed (0: none), as report sets carry it. */
  get completedEpoch(): number {
    return this.completed;
  }

  /** Whether a census is running here (pulling, or verifying absentees). */
  get running(): boolean {
    return this.phase === 'pulling' || this.phase === 'verifying';
  }

  /** The epoch of the census held (running or last completed; 0: none). */
  get epoch(): number {
    return this.heldEpoch;
  }

  /** When this node joined the census held (Infinity: none). */
  get joinedAt(): number {
    return this.joinedAtMs;
  }

  /** When the census held ended here, direct checks included (Infinity: running or none). */
  get completedAt(): number {
    return this.completedAtMs;
  }

  /** Whether the census held got a reply (a direct check's answer included). */
  get answered(): boolean {
    return this.repliesEver > 0;
  }

  /** Members present in the census held. */
  get presentMembers(): number {
    return this.presentCount;
  }

  /** Whether `ref` is present in the census held. */
  isPresent(ref: number): boolean {
    const i = this.joined ? indexOfRef(this.joined.refs, ref) : -1;
    return i >= 0 && hasBit(this.present, i);
  }

  /**
   * The start rule, called each round with the number of members this node holds unresolved reports about
   * (records not yet convicted nor refuted, and not already judged by the census it last completed). True once
   * two or more subjects have been held `settle` (half an interval), or one subject for an interval and then
   * `settle`: a crash is convicted by its quorum, and a gray node's false report refuted, before that. The
   * clocks restart when a census ends. Never true while a census runs.
   */
  shouldStart(unresolvedSubjects: number, now: number): boolean {
    if (this.running) return false;
    if (unresolvedSubjects <= 0) {
      this.oneSince = this.twoSince = null;
      return false;
    }
    this.oneSince ??= now;
    if (unresolvedSubjects >= 2) this.twoSince ??= now;
    else this.twoSince = null;
    const held = this.twoSince ?? this.oneSince + this.config.intervalMs;
    return now >= held + this.config.intervalMs / 2;
  }

  /**
   * Starts a census (epoch: usually `nextEpoch`) over the current membership, whose hash the caller names so
   * that a stale one is caught. Ignored when a census at `epoch` or newer is already running.
   */
  start(epoch: number, membershipHash: number, now: number): void {
    const m = this.membership;
    if (!m || m.hash !== membershipHash) {
      throw new InvalidArgumentError(`census membership hash ${String(membershipHash)} is not the current one`);
    }
    if (this.running && this.heldEpoch >= epoch) return;
    this.join(epoch, m, now);
  }

  /**
   * A CENSUS-PULL from `from` (a ref): returns the CENSUS to answer with. A pull for a newer census than the one
   * held joins it (own bit set) first; one for an older census is answered with the newer one held, from which
   * the requester joins. A membership hash other than this node's gets `differs`. While pulling, a requester not
   * yet present is queued for a pull-back, and the bitmap of a requester already present adds candidates. The
   * request's bitmap never counts as presence: it may come across a one-way cut.
   */
  onPull(from: number, msg: CensusPullMessage, now: number): CensusMessage {
    this.noteEpoch(msg.epoch);
    const m = this.membership;
    if (msg.epoch > this.heldEpoch || !this.joined) {
      if (!m || msg.membershipHash !== m.hash || msg.memberCount !== m.refs.length) return this.differs(msg);
      this.join(msg.epoch, m, now);
    } else if (msg.epoch < this.heldEpoch) {
      return this.reply();
    }
    const j = this.joined as CensusMembership;
    if (msg.membershipHash !== j.hash || msg.memberCount !== j.refs.length) return this.differs(msg);
    if (this.phase === 'pulling') {
      const i = indexOfRef(j.refs, from);
      if (i >= 0 && !hasBit(this.present, i)) {
        if (!hasBit(this.queued, i)) {
          setBit(this.queued, i);
          this.pullBack.push(i);
        }
      } else if (i >= 0 && !msg.verification && msg.present.length === this.present.length) {
        orBits(this.heard, msg.present);
      }
    }
    return this.reply();
  }

  /**
   * A CENSUS from `from` answering one of our pulls. For the census held: its present and reported bitmaps are
   * ORed into ours (a member of ours held unreachable whose bit arrives is revived at once); during verification
   * any answer from a member being checked, `differs` included, makes it present. For a newer census over the
   * same membership: this node joins it, then ORs. Older censuses and `differs` answers are otherwise ignored (the
   * next rounds pull someone else).
   */
  onReply(from: number, msg: CensusMessage, now: number): void {
    this.noteEpoch(msg.epoch);
    if (this.phase === 'verifying' && msg.epoch >= this.heldEpoch) {
      // Any answer to a direct check is two-way contact, even one whose membership differs.
      const i = indexOfRef((this.joined as CensusMembership).refs, from);
      if (i >= 0 && hasBit(this.verifying, i)) {
        this.repliesEver++;
        this.addPresent(i);
      }
    }
    if (msg.differs) return;
    if (msg.epoch > this.heldEpoch) {
      const m = this.membership;
      if (!m || msg.membershipHash !== m.hash || msg.memberCount !== m.refs.length) return;
      this.join(msg.epoch, m, now);
    }
    const j = this.joined;
    if (!j || !this.running || msg.epoch !== this.heldEpoch || msg.membershipHash !== j.hash) return;
    if (msg.present.length !== this.present.length || msg.reported.length !== this.present.length) return;
    this.repliesThisRound++;
    this.repliesEver++;
    // The responder's own bit is in its present bitmap: a direct check's answer makes it present here too.
    orBits(this.present, msg.present, (i) => this.arrived(i));
    if (orBits(this.reportedBits, msg.reported) > 0) this.replyCache = null;
  }

  /**
   * One round (call once every quarter interval): the CENSUS-PULLs to send now. While pulling: 3 pulls (8 while
   * isolated: no reachable neighbour, nothing present, no reply yet), the first a pull-back, then a candidate, a
   * present member or a reachable neighbour, the last uniform. Ends the pulling once C(N) rounds have passed and
   * the last 4 rounds had replies and no growth, or after 2C(N) rounds; then judges absentees, and sends the
   * direct checks a round apart.
   */
  pulls(now: number, random: Random): CensusPull[] {
    const j = this.joined;
    if (!j) return [];
    if (this.phase === 'verifying') return this.verifyRound(j, now);
    if (this.phase !== 'pulling') return [];
    if (this.rounds > 0) {
      // A round with no reply says nothing: it breaks a quiet run as growth does.
      const grew = this.presentCount > this.roundStartCount;
      this.quiet = grew || this.repliesThisRound === 0 ? 0 : this.quiet + 1;
    }
    const c = censusRounds(j.refs.length);
    if ((this.rounds >= c && this.quiet >= CENSUS_QUIET_ROUNDS) || this.rounds >= 2 * c) {
      this.judge(j);
      return this.verifyRound(j, now);
    }
    this.rounds++;
    // Records written since joining (a neighbour across goes silent mid-census) travel in our replies from now on.
    this.markReported(j);
    this.roundStartCount = this.presentCount;
    this.repliesThisRound = 0;
    const reachable = j.reachable();
    const isolated = this.repliesEver === 0 && this.presentCount === 1 && reachable.length === 0;
    const count = isolated ? CENSUS_ISOLATED_PULLS : CENSUS_PULLS;
    const out: CensusPull[] = [];
    // One message for the round's pulls: its bitmap is a snapshot, read-only once built.
    const message = this.pull(false);
    for (let p = 0; p < count; p++) {
      let y = p === 0 ? this.takePullBack() : -1;
      if (y < 0 && p < CENSUS_PULLS - 1) y = this.targeted(j, reachable, random);
      if (y < 0) y = this.uniform(j.refs.length, random);
      if (y < 0) break;
      out.push({ to: j.refs[y] as number, message });
    }
    return out;
  }

  /** Verdicts reached since the last call (convictions at the end, revivals as bits arrive), oldest first. */
  takeVerdicts(): CensusVerdict[] {
    const out = this.verdicts;
    this.verdicts = [];
    return out;
  }

  private join(epoch: number, m: CensusMembership, now: number): void {
    this.joinedAtMs = now;
    this.completedAtMs = Infinity;
    const bytes = bitmapBytes(m.refs.length);
    this.joined = m;
    this.replyCache = null;
    this.heldEpoch = epoch;
    this.noteEpoch(epoch);
    this.phase = 'pulling';
    this.present = new Uint8Array(bytes);
    this.reportedBits = new Uint8Array(bytes);
    this.heard = new Uint8Array(bytes);
    this.queued = new Uint8Array(bytes);
    this.verifying = new Uint8Array(0);
    this.pullBack = [];
    this.rounds = this.quiet = this.tries = this.repliesThisRound = this.repliesEver = this.presentCount = 0;
    const me = indexOfRef(m.refs, this.self);
    if (me >= 0) this.addPresent(me);
    this.markReported(m);
  }

  private markReported(m: CensusMembership): void {
    for (const ref of m.reported()) {
      const i = indexOfRef(m.refs, ref);
      if (i < 0 || hasBit(this.reportedBits, i)) continue;
      setBit(this.reportedBits, i);
      this.replyCache = null;
    }
  }

  private addPresent(i: number): void {
    if (hasBit(this.present, i)) return;
    setBit(this.present, i);
    this.arrived(i);
  }

  /** A bit that just arrived: counted, and a member held unreachable is revived (two-way evidence). */
  private arrived(i: number): void {
    this.presentCount++;
    this.replyCache = null;
    if (hasBit(this.verifying, i)) clearBit(this.verifying, i);
    const ref = (this.joined as CensusMembership).refs[i] as number;
    if (ref !== this.self && (this.joined as CensusMembership).isUnreachable(ref)) {
      this.verdicts.push({ ref, kind: 'revived' });
    }
  }

  private takePullBack(): number {
    while (this.pullBack.length > 0) {
      const z = this.pullBack.pop() as number;
      clearBit(this.queued, z);
      if (!hasBit(this.present, z)) return z;
    }
    return -1;
  }

  /**
   * A candidate (tried once: its bit is cleared as it is pulled), else a present member, else a neighbour heard
   * both ways (its beats prove the path). Uniform among those, and found even when the bitmap is sparse (a small
   * side of a big membership).
   */
  private targeted(j: CensusMembership, reachable: ArrayLike<number>, random: Random): number {
    const me = indexOfRef(j.refs, this.self);
    const candidate = pickBit(this.heard, this.present, me, random);
    if (candidate >= 0) {
      clearBit(this.heard, candidate);
      return candidate;
    }
    const present = pickBit(this.present, null, me, random);
    if (present >= 0) return present;
    if (reachable.length > 0) {
      const z = indexOfRef(j.refs, reachable[Math.floor(random.next() * reachable.length)] as number);
      if (z >= 0) return z;
    }
    return -1;
  }

  /** A member other than this node, uniformly; -1 when there is none. */
  private uniform(n: number, random: Random): number {
    const me = indexOfRef((this.joined as CensusMembership).refs, this.self);
    const others = me >= 0 ? n - 1 : n;
    if (others <= 0) return -1;
    const z = Math.floor(random.next() * others);
    return me >= 0 && z >= me ? z + 1 : z;
  }

  /** The end of the pulling: convicts a cut's reported absentees, queues direct checks of lone or unwitnessed ones. */
  private judge(j: CensusMembership): void {
    this.markReported(j);
    this.verifying = new Uint8Array(this.present.length);
    this.tries = 0;
    this.phase = 'verifying';
    const absent: number[] = [];
    for (let i = 0; i < j.refs.length; i++) {
      if (!hasBit(this.present, i) && j.isLive(j.refs[i] as number)) absent.push(i);
    }
    const lone = absent.filter((i) => hasBit(this.reportedBits, i)).length <= LONE_ABSENTEES;
    let checks = 0;
    let deafChecks = 0;
    for (const i of absent) {
      const ref = j.refs[i] as number;
      const reported = hasBit(this.reportedBits, i) && !(lone && j.stillReported?.(ref) === false);
      if (reported && !lone) {
        this.verdicts.push({ ref, kind: 'unreachable' });
        continue;
      }
      const around = j.neighbours(ref);
      const vouching = countPresent(j.refs, this.present, around);
      // Unreported with a present neighbour (it hears its beats, would report it if they stopped): left live; not in
      // a cut, where that neighbour may hear it across a one-way cut whose outbound record comes after this verdict.
      if (!reported && vouching > 0 && lone) continue;
      setBit(this.verifying, i);
      checks++;
      if (reported && 2 * vouching > around.length) deafChecks++;
    }
    this.checks = checks;
    this.cut = !lone || checks > LONE_ABSENTEES; // Many to check: a side whose records are held (deaf to across).
    const tail = this.joinedAtMs - this.cutEndedAtMs <= CUT_TAIL_INTERVALS * this.config.intervalMs;
    // Slow for a lone reported member most of whose neighbours are present (likely deaf for a while); quick for one
    // whose neighbours are mostly absent too (across a cut whose other members were convicted by quorum).
    this.checkRounds = this.cut || tail || deafChecks === 0 ? CENSUS_QUICK_CHECK_ROUNDS : CENSUS_LONE_CHECK_ROUNDS;
  }

  /**
   * A verification round: a direct pull per pending absentee in the rounds `checkRounds` names, and a round after
   * the last, the convictions.
   */
  private verifyRound(j: CensusMembership, now: number): CensusPull[] {
    const out: CensusPull[] = [];
    this.checkRounds = checkSchedule(this.checkRounds, this.tries, this.verifying, this.checks);
    const rounds = this.checkRounds;
    const last = this.tries > (rounds[rounds.length - 1] as number);
    const pulling = rounds.includes(this.tries);
    let pending = 0;
    for (let i = 0; i < j.refs.length; i++) {
      if (!hasBit(this.verifying, i)) continue;
      pending++;
      const ref = j.refs[i] as number;
      if (last) this.verdicts.push({ ref, kind: 'unreachable' });
      else if (pulling) out.push({ to: ref, message: this.pull(true) });
    }
    this.tries++;
    if (last || pending === 0) this.finish(now);
    return out;
  }

  private finish(now: number): void {
    this.phase = 'done';
    this.completedAtMs = now;
    if (this.cut) this.cutEndedAtMs = now;
    this.verifying = new Uint8Array(0);
    this.heard = new Uint8Array(0);
    this.queued = new Uint8Array(0);
    this.pullBack = [];
    if (this.heldEpoch > this.completed) this.completed = this.heldEpoch;
    this.oneSince = this.twoSince = null;
  }

  private pull(verification: boolean): CensusPullMessage {
    const j = this.joined as CensusMembership;
    return {
      type: 'censusPull',
      clusterId: this.config.clusterId,
      epoch: this.heldEpoch,
      membershipHash: j.hash,
      memberCount: j.refs.length,
      verification,
      present: verification ? new Uint8Array(0) : this.present.slice(),
    };
  }

  private reply(): CensusMessage {
    if (this.replyCache) return this.replyCache;
    const j = this.joined as CensusMembership;
    return (this.replyCache = {
      type: 'census',
      clusterId: this.config.clusterId,
      epoch: this.heldEpoch,
      membershipHash: j.hash,
      memberCount: j.refs.length,
      differs: false,
      present: this.present.slice(),
      reported: this.reportedBits.slice(),
    });
  }

  private differs(msg: CensusPullMessage): CensusMessage {
    const m = this.membership;
    return {
      type: 'census',
      clusterId: this.config.clusterId,
      epoch: msg.epoch,
      membershipHash: m ? m.hash : 0,
      memberCount: m ? m.refs.length : 0,
      differs: true,
      present: new Uint8Array(0),
      reported: new Uint8Array(0),
    };
  }
}

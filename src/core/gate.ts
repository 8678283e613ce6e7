/**
 * The cluster-wide gate of protocol 7 (docs/design/liveness-7.md, "The gate: mode 7 only when every live member
 * speaks 7"). Every protocol-7 node advertises two reserved keys in its own state: SPEAKS_KEY ("7") and READY_KEY
 * ("0" until its gate opens, then a counter). A node runs in mode 7 (liveness by neighbours' beats) only while no
 * live member of its view could be a protocol-6 node, and otherwise in mode 6 (heartbeats in gossiped digests),
 * which every release understands.
 *
 * Per member the gate keeps one byte of bits (live, speaks 7, ready, was ready, last beat in mode 7) and four
 * counts over the live members, so every update and query is O(1) and the memory is one byte per member
 * (docs/design/liveness-7.md, "What remains per (node, member)"). This node itself (slot SELF) is never
 * observed: it speaks 7 by construction and its readiness is the gate's own.
 *
 * The rules, each with its reason:
 *
 * 1. **Strict parsing.** A value counts only when it is a plain decimal integer ("7", not "07", " 7", "7.0" or
 *    "+7"). Anything else counts as *not speaking 7* / *not ready*: the safe side, since a wrong "speaks" would
 *    let a protocol-6 node go without heartbeats, while a wrong "not speaking" only keeps mode 6.
 * 2. **Own ready after a continuous hold.** This node's READY_KEY becomes its counter + 1 once every live member
 *    has advertised speaks >= 7 *continuously* for `gateHoldMs` (30 s). Views disagree for about a round after a
 *    join, and an old node's state can take several rounds to reach everyone through old relays: the hold gives
 *    that news time to arrive before this node vouches for the whole cluster. The hold is measured from the
 *    last instant the condition broke, one instant for the cluster, not one per member: a member joining as a
 *    protocol-7 node keeps the condition true and does not restart the hold.
 * 3. **Joiners adopt an open gate.** A node whose condition has never broken in this incarnation, and whose
 *    every other live member is ready, opens at once. Without it every restart in a mode-7 cluster would show a
 *    member not ready for 30 s, and keep the whole cluster out of mode 7 for that long after each join. It is no
 *    weaker than the hold: the others' ready values say they each held the condition for `gateHoldMs`.
 * 4. **Fallback at once.** A live member without speaks >= 7 (an old node joining or coming back, or a
 *    malformed value) closes this node's gate and, if it ran mode 7, returns it to mode 6 in the same call: an
 *    old node convicts whoever stops sending it heartbeats, so no delay is safe. READY_KEY goes back to "0" at
 *    once (news: the other nodes fall back within about a round, before they hear of the old member). The
 *    fallback instant is handed to the coordinator (`takeFallback`), which resets every member's mode-6 deadline
 *    as at admission: the heartbeats it kept counting locally in mode 7 start reaching peers again only now.
 * 5. **Mode 7 once every live member is ready** (this node included). Ready is a two-phase commit: no node
 *    switches until every node has checked its own view, so one node's knowledge of an old member keeps all of
 *    them in mode 6. Once in mode 7, a live member whose ready value *drops* (it was seen ready in its current
 *    incarnation and now reads "0" or malformed) is another node's fallback, and this node follows at once. A
 *    member never yet seen ready (a joiner that has not opened) blocks entering mode 7 but does not force a
 *    fallback: it opens within a round by rule 3, and were it to see an old member, that member's own state
 *    reaches this node as news as fast as a ready value would.
 * 6. **Hysteresis.** After a fallback this node does not re-enter mode 7 for `gateHoldMs`, and its own gate
 *    reopens only after the condition has held for `gateHoldMs` again (rule 2; rule 3 no longer applies once the
 *    condition has broken). Each fallback resets mode-6 deadlines (no conviction for a detection period): a
 *    member that flaps, in speaks, in liveness or in its ready value, must not keep the cluster switching, nor
 *    keep it blind, more often than once per `gateHoldMs`.
 * 7. **Switch period.** For `switchPeriodMs` (one detection period, 5 s) after switching to mode 7, members
 *    whose last beat did not carry BEAT_MODE_7 still get heartbeat digests (`sendsHeartbeatsTo`): nodes switch
 *    a round or so apart, and one that switches later must not be starved of the heartbeats its mode-6
 *    deadlines wait for. A live member that is not ready (a joiner before it opens) runs mode 6 too, and gets
 *    them for as long as it stays so.
 *
 * What the coordinator must feed it: every member's reserved values whenever they change (`observe`), its
 * liveness (`setLive`), the flags of its beats (`observeBeat`), and `forget` when a slot is freed. A member
 * counts as live only once its values from version 1 are held: a protocol-7 node writes SPEAKS_KEY and READY_KEY
 * first, as versions 1 and 2 of its incarnation, and deltas are cut in ascending version order, so the delta that
 * introduces a member carries them; a protocol-6 member with no key at all is known complete from a digest's max
 * version 0. Pure: the clock is an argument (monotonic ms); no timers.
 */
import { BEAT_MODE_7 } from '../wire/liveness-messages.js';
import { InvalidArgumentError } from '../errors.js';
import { SELF } from './membership.js';

/** How long every live member must have spoken 7, continuously, before this node says it is ready. */
export const GATE_HOLD_MS = 30_000;
/** How long after switching to mode 7 members not yet beating in mode 7 still get heartbeat digests. */
export const SWITCH_PERIOD_MS = 5_000;
/** The lowest protocol a SPEAKS_KEY value must name for its member to count as protocol 7. */
export const GATE_PROTOCOL = 7;

/** The liveness protocol a node runs: 6, heartbeats in gossiped digests; 7, neighbours' beats and reports. */
export type GateMode = 6 | 7;

export interface GateOptions {
  /** Rules 2 and 6; default GATE_HOLD_MS. */
  readonly gateHoldMs?: number;
  /** Rule 7; default SWITCH_PERIOD_MS. */
  readonly switchPeriodMs?: number;
}

// One byte per member.
const LIVE = 1;
const SPEAKS = 2;
const READY = 4;
/** Seen ready in its current incarnation (cleared only by forget): a later "0" is a fallback (rule 5). */
const WAS_READY = 8;
/** Its last beat carried BEAT_MODE_7 (rule 7). */
const BEAT_7 = 16;

/** At most 15 digits: every such integer is exact in a double. */
const DECIMAL = /^(?:0|[1-9][0-9]{0,14})$/;

/** A reserved key's value as a non-negative integer, or -1 when absent or not a plain decimal integer (rule 1). */
export function parseGateValue(value: string | undefined): number {
  return value !== undefined && DECIMAL.test(value) ? Number(value) : -1;
}

/** Whether a SPEAKS_KEY value names protocol 7 or later. */
export function speaksGateProtocol(value: string | undefined): boolean {
  return parseGateValue(value) >= GATE_PROTOCOL;
}

/** Whether a READY_KEY value says its member's gate is open (a counter of at least 1). */
export function isReadyValue(value: string | undefined): boolean {
  return parseGateValue(value) > 0;
}

function checkDuration(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new InvalidArgumentError(`${name} must be a finite number of ms >= 0 (got ${value})`);
  return value;
}

export class Gate {
  readonly gateHoldMs: number;
  readonly switchPeriodMs: number;
  private bits = new Uint8Array(64);
  // Counts over live members other than this node.
  private live = 0;
  /** Live and not speaking 7: any closes the gate (rule 4). */
  private liveSilent = 0;
  /** Live and not (speaking 7 and ready): any blocks entering mode 7 (rule 5). */
  private liveUnready = 0;
  /** Live, seen ready, now not ready: any forces a fallback from mode 7 (rule 5). */
  private liveDropped = 0;
  /** Since when every live member has spoken 7 (NaN while one does not). */
  private allSpeakSince: number;
  /** The condition of rule 2 broke at least once in this incarnation (rule 3 no longer applies). */
  private broken = false;
  private open = false;
  private readyCounter = 0;
  private current: GateMode = 6;
  private switchedAt = -Infinity;
  private lastFallbackAt = -Infinity;
  private pendingFallback: number | null = null;
  private clock = -Infinity;

  /** `now`: the instant this incarnation started, from which rule 2's hold counts when nothing breaks it. */
  constructor(now: number, options: GateOptions = {}) {
    this.gateHoldMs = checkDuration('gateHoldMs', options.gateHoldMs ?? GATE_HOLD_MS);
    this.switchPeriodMs = checkDuration('switchPeriodMs', options.switchPeriodMs ?? SWITCH_PERIOD_MS);
    this.allSpeakSince = now;
    this.clock = now;
  }

  /**
   * A member's reserved values as this node now holds them (undefined: the key is absent or deleted). Call it
   * when either changes; a malformed value counts as absent (rule 1). May close the gate and fall back at once.
   */
  observe(slot: number, speaks: string | undefined, ready: string | undefined, now: number): void {
    const old = this.bitsOf(slot);
    let b = old & (LIVE | WAS_READY | BEAT_7);
    if (speaksGateProtocol(speaks)) b |= SPEAKS;
    if (isReadyValue(ready)) b |= READY;
    if ((b & (SPEAKS | READY)) === (SPEAKS | READY)) b |= WAS_READY;
    this.update(slot, old, b, now);
  }

  /** A member became live or dead in this node's view: only live members count. */
  setLive(slot: number, live: boolean, now: number): void {
    const old = this.bitsOf(slot);
    this.update(slot, old, live ? old | LIVE : old & ~LIVE, now);
  }

  /** A beat from a member arrived with these BEAT_* flags (rule 7). */
  observeBeat(slot: number, flags: number): void {
    if (slot === SELF) return;
    this.grow(slot);
    const b = this.bits[slot] as number;
    this.bits[slot] = flags & BEAT_MODE_7 ? b | BEAT_7 : b & ~BEAT_7;
  }

  /** A slot was freed (the member removed, or replaced by another incarnation): its bits are cleared. */
  forget(slot: number, now: number): void {
    this.update(slot, this.bitsOf(slot), 0, now);
  }

  /**
   * The value this node should hold under READY_KEY now: "0" while its gate is closed, else its counter, raised
   * by one each time the gate opens in this incarnation (so a peer that missed a "0" in between still sees a
   * new value).
   */
  ownReady(now: number): string {
    this.advance(now);
    return this.open ? String(this.readyCounter) : '0';
  }

  /** The mode this node runs in now (rules 4 to 6). */
  mode(now: number): GateMode {
    this.advance(now);
    return this.current;
  }

  /**
   * The instant of the last fallback from mode 7 not yet taken, once (null when none): the coordinator resets
   * every member's mode-6 deadline from it as at admission and sends full digests again (rule 4). Several
   * fallbacks between two calls give the latest.
   */
  takeFallback(): number | null {
    const at = this.pendingFallback;
    this.pendingFallback = null;
    return at;
  }

  /**
   * Whether a message to this member should carry heartbeats (a protocol-6 digest) now: always in mode 6; in
   * mode 7, to a live member that is not ready (it still runs mode 6), and during the switch period to one whose
   * last beat lacked BEAT_MODE_7 (rule 7).
   */
  sendsHeartbeatsTo(slot: number, now: number): boolean {
    this.advance(now);
    if (this.current === 6) return true;
    const b = this.bitsOf(slot);
    if (b & LIVE && (b & (SPEAKS | READY)) !== (SPEAKS | READY)) return true;
    return now < this.switchedAt + this.switchPeriodMs && (b & BEAT_7) === 0;
  }

  /** The membership renumbered its slots (slotOf[old] = new, -1: none): every member's bits move with it. */
  remap(slotOf: Int32Array): void {
    const next = new Uint8Array(this.bits.length);
    for (let s = 0; s < slotOf.length && s < this.bits.length; s++) {
      const to = slotOf[s] as number;
      if (to >= 0) next[to] = this.bits[s] as number;
    }
    this.bits = next;
  }

  /** For diagnostics and tests: the counts and instants behind the current mode. */
  status(now: number): GateStatus {
    this.advance(now);
    return {
      mode: this.current,
      open: this.open,
      live: this.live,
      notSpeaking: this.liveSilent,
      notReady: this.liveUnready,
      allSpeakSince: Number.isNaN(this.allSpeakSince) ? null : this.allSpeakSince,
      switchedAt: this.switchedAt === -Infinity ? null : this.switchedAt,
      lastFallbackAt: this.lastFallbackAt === -Infinity ? null : this.lastFallbackAt,
    };
  }

  /**
   * Whether the member at `slot` speaks 7 and its READY_KEY says its gate is open: it runs, or is about to run,
   * mode 7, so it beats its neighbours (mode 7's never-heard rule waits for nothing else).
   */
  isReady(slot: number): boolean {
    return (this.bitsOf(slot) & (SPEAKS | READY)) === (SPEAKS | READY);
  }

  private bitsOf(slot: number): number {
    return slot < this.bits.length ? (this.bits[slot] as number) : 0;
  }

  private grow(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0) throw new InvalidArgumentError(`a slot is an integer >= 0 (got ${slot})`);
    if (slot < this.bits.length) return;
    let size = this.bits.length;
    while (size <= slot) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bits);
    this.bits = next;
  }

  /** Moves a member from bits `old` to `b`, keeping the counts, then applies the rules at `now`. */
  private update(slot: number, old: number, b: number, now: number): void {
    if (slot === SELF) return;
    this.grow(slot);
    const silentBefore = this.liveSilent;
    this.count(old, -1);
    this.bits[slot] = b;
    this.count(b, 1);
    const at = Math.max(now, this.clock);
    if (silentBefore === 0 && this.liveSilent > 0) {
      this.allSpeakSince = NaN;
      this.broken = true;
    } else if (silentBefore > 0 && this.liveSilent === 0) {
      this.allSpeakSince = at;
    }
    this.advance(at);
  }

  private count(b: number, sign: 1 | -1): void {
    if (!(b & LIVE)) return;
    this.live += sign;
    if (!(b & SPEAKS)) this.liveSilent += sign;
    if ((b & (SPEAKS | READY)) !== (SPEAKS | READY)) this.liveUnready += sign;
    if (b & WAS_READY && !(b & READY)) this.liveDropped += sign;
  }

  /** Applies rules 2 to 6 at `now` (clamped to never go back). */
  private advance(now: number): void {
    const at = Math.max(now, this.clock);
    this.clock = at;
    if (this.liveSilent > 0) {
      this.open = false; // rule 4
    } else if (!this.open) {
      const held = at - this.allSpeakSince >= this.gateHoldMs; // rule 2 (false while NaN)
      const adopt = !this.broken && this.live > 0 && this.liveUnready === 0; // rule 3
      if (held || adopt) {
        this.open = true;
        this.readyCounter++;
      }
    }
    if (this.current === 7) {
      if (!this.open || this.liveDropped > 0) {
        this.current = 6; // rules 4 and 5
        this.lastFallbackAt = at;
        this.pendingFallback = at;
      }
    } else if (this.open && this.liveUnready === 0 && at >= this.lastFallbackAt + this.gateHoldMs) {
      this.current = 7; // rules 5 and 6
      this.switchedAt = at;
    }
  }
}

/** What `Gate.status` reports. */
export interface GateStatus {
  readonly mode: GateMode;
  /** This node's own gate: READY_KEY is non-zero. */
  readonly open: boolean;
  /** Live members other than this node. */
  readonly live: number;
  readonly notSpeaking: number;
  readonly notReady: number;
  /** Since when every live member has spoken 7 (null while one does not). */
  readonly allSpeakSince: number | null;
  readonly switchedAt: number | null;
  readonly lastFallbackAt: number | null;
}

/**
 * Which liveness a protocol-7 node runs, and the switch between them (docs/design/liveness-7.md, "The gate"): mode
 * 6, heartbeats in every digest, which every release understands; mode 7 (mode7.ts), neighbours' beats and
 * reports, once every live member speaks 7 and says so. The coordinator asks this object each round which mode
 * applies, and hands it the membership's events.
 *
 * It owns:
 *   Gate         every member's reserved values and liveness, the hold, the own ready value (gate.ts)
 *   Mode7        built when the gate opens, dropped when it closes (a fallback); null in mode 6
 *
 * and the node's three reserved keys (reserved-keys.ts): SPEAKS_KEY and READY_KEY, the gate's, and REPORT_KEY_KEY,
 * the report-signing public key, so that members learned in mode 6 can have their report sets checked in mode 7.
 * The keys are written first (versions 1 to 3 of the incarnation), outside flow control.
 */
import {
  READY_KEY,
  REPORT_KEY_KEY,
  SPEAKS_KEY,
  type BeatMessage,
  type LivenessMessage,
} from '../wire/liveness-messages.js';
import type { FailureDetector } from './detector.js';
import { Gate, GATE_PROTOCOL, type GateStatus } from './gate.js';
import type { Journal } from './journal.js';
import type { LeaveProofs } from './leave-proof.js';
import { SELF, type Membership } from './membership.js';
import { NO_CENSUS, type CensusCounts } from './liveness7-parts.js';
import { Mode7, type Mode7Init } from './mode7.js';
import type { OwnValues } from './own-values.js';
import { DEAD, LIVE, type StoredValue } from './peer-table.js';
import type { CoreEvent, Liveness7Options, Outbound, Random, Sender } from './types.js';

export interface LivenessSwitchComponents {
  readonly membership: Membership;
  readonly journal: Journal;
  readonly own: OwnValues;
  readonly proofs: LeaveProofs;
  readonly rng: Random;
  readonly detector: FailureDetector;
}

/** The reserved keys a protocol-7 node starts with, before its application's initial values. */
export function reservedInitialValues(options: Liveness7Options): Record<string, string> {
  return {
    [SPEAKS_KEY]: String(GATE_PROTOCOL),
    [READY_KEY]: '0',
    [REPORT_KEY_KEY]: toHex(options.signer.publicKey),
  };
}

/** What ScuttlebuttCore.livenessStatus reports (protocol 7's liveness configured). */
export interface LivenessStatus {
  /** The liveness running: 7 while the gate holds this node in mode 7. */
  readonly mode: 6 | 7;
  readonly gate: GateStatus;
  /** Times this node switched to mode 7, and fell back to 6. */
  readonly switches: number;
  readonly fallbacks: number;
  /**
   * Mode 7's refusals and drops, by reason, summed over every time it ran: report sets refused ('forged-report',
   * 'unsigned-report', 'ineligible-report'), parts of node deltas dropped, stray messages.
   */
  readonly drops: Readonly<Record<string, number>>;
  /** Mode 7's census counts, summed over every time it ran. */
  readonly census: CensusCounts;
}

/** `held`'s counts plus those of `active`'s censuses (none while in mode 6). */
function addCensus(held: CensusCounts, active: Mode7 | null): CensusCounts {
  const s = active?.censusStatus() ?? NO_CENSUS;
  return {
    started: held.started + s.started,
    convicted: held.convicted + s.convicted,
    neverHeard: held.neverHeard + s.neverHeard,
    neverHeardReported: held.neverHeardReported + s.neverHeardReported,
  };
}

export class LivenessSwitch {
  readonly gate: Gate;
  /** Mode 7's sub-coordinator while the gate holds this node in mode 7; null in mode 6. */
  active: Mode7 | null = null;
  private readonly c: LivenessSwitchComponents;
  private readonly init: Mode7Init;
  /** Times this node switched to mode 7, and fell back. */
  private switches = 0;
  private fallbacks = 0;
  /** The refusals of the Mode7 instances dropped on fallbacks: the counts only grow, across switches. */
  private readonly retiredDrops: Record<string, number> = {};
  private retiredCensus: CensusCounts = NO_CENSUS;

  constructor(components: LivenessSwitchComponents, init: Mode7Init, now: number) {
    this.c = components;
    this.init = init;
    this.now = now;
    this.gate = new Gate(now, init.options.gateHoldMs !== undefined ? { gateHoldMs: init.options.gateHoldMs } : {});
    components.membership.onRenumber = (slotOf) => {
      this.gate.remap(slotOf);
      this.active?.remap(slotOf);
    };
  }

  /** The clock of the coordinator's call in progress (events arrive without one). */
  now: number;

  /**
   * A protocol-7 message: a beat warms its sender's window in either mode; mode 7 takes the message. In mode 6 a
   * CENSUS-PULL from a member is answered "membership differs" and the rest dropped. Nodes in mode 7 and in mode 6
   * coexist while the gate opens (a joiner adopts the open gate while members that saw another joiner not yet
   * ready still wait on it), and a census's direct check takes any answer for contact (census.ts, onReply):
   * unanswered, a puller in mode 7 convicts every member still in mode 6 as the far side of a cut.
   */
  receive(from: string, message: LivenessMessage, now: number, sender: Sender): Outbound[] {
    if (message.type === 'beat') this.noteBeat(message, from);
    if (this.active) return this.active.receive(from, message, now, sender);
    return this.answerInMode6(from, message);
  }

  private answerInMode6(from: string, message: LivenessMessage): Outbound[] {
    if (message.type !== 'censusPull' || this.c.membership.memberSlotAt(from) <= SELF) return [];
    const differs = {
      type: 'census',
      clusterId: this.init.clusterId,
      epoch: message.epoch,
      membershipHash: 0,
      memberCount: 0,
      differs: true,
      present: new Uint8Array(0),
      reported: new Uint8Array(0),
    } as const;
    return [{ to: from, message: differs }];
  }

  /** A membership event, as the journal emits it (the Journal's listener). */
  noteEvent(type: CoreEvent['type'], slot: number): void {
    if (slot === SELF) return;
    const now = this.now;
    const t = this.c.membership.table;
    switch (type) {
      case 'live':
        this.observeValues(slot, now);
        this.gate.setLive(slot, true, now);
        break;
      case 'update':
        this.observeValues(slot, now);
        break;
      case 'dead':
        this.gate.setLive(slot, false, now);
        break;
      case 'removed':
        this.gate.forget(slot, now);
        break;
    }
    if (!this.active) return;
    this.active.noteEvent(type, slot);
    if (type === 'update' || type === 'live') this.active.notePublicKey(slot, keyValueOf(t.values.get(slot)));
  }

  /** The mode, the gate and the refusals so far (ScuttlebuttCore.livenessStatus). */
  status(now: number): LivenessStatus {
    const drops = addCounts({ ...this.retiredDrops }, this.active?.drops() ?? {});
    return {
      mode: this.active ? 7 : 6,
      gate: this.gate.status(now),
      switches: this.switches,
      fallbacks: this.fallbacks,
      drops,
      census: addCensus(this.retiredCensus, this.active),
    };
  }

  /** A beat's flags (the switch period sends heartbeats to members not yet beating in mode 7). */
  noteBeat(beat: BeatMessage, from: string): void {
    const s = this.c.membership.memberSlotAt(from);
    if (s > SELF) this.gate.observeBeat(s, beat.flags);
  }

  /**
   * Once a round, before anything is sent: the gate's verdict applied (switch to mode 7, or fall back), and the
   * own ready value written when it changed. Returns the mode to run this round.
   */
  update(now: number): 6 | 7 {
    this.now = now;
    const mode = this.gate.mode(now);
    const fallback = this.gate.takeFallback();
    if (this.active && (mode === 6 || fallback !== null)) this.fallBack(now);
    if (mode === 7 && !this.active) this.switchTo7(now);
    this.c.own.setReserved(READY_KEY, this.gate.ownReady(now));
    return this.active ? 7 : 6;
  }

  /**
   * Whether fresh heartbeats may bring a dead member back (Membership asks, MembershipComponents.revivesOnHeartbeat):
   * not while mode 7 runs. Heartbeats in protocol-6 digests still arrive then (a member sends them to whoever it
   * holds dead), also across a one-way cut that the census convicted: only a refutation proves the way back open.
   */
  revivesOnHeartbeat(): boolean {
    return this.active === null;
  }

  /** Whether a protocol-6 digest should still go to the member at `address` in mode 7 (Gate.sendsHeartbeatsTo). */
  sendsHeartbeatsTo(address: string, now: number): boolean {
    const s = this.c.membership.liveSlotAt(address);
    if (s < 0) return !(this.active?.speaks7(address, now) ?? false);
    return this.gate.sendsHeartbeatsTo(s, now);
  }

  private switchTo7(now: number): void {
    // Mode 7 convicts by beats and reports: protocol 6's detector stops, and its columns go (FailureDetector.stop).
    this.c.detector.stop();
    this.active = new Mode7(
      {
        membership: this.c.membership,
        journal: this.c.journal,
        own: this.c.own,
        proofs: this.c.proofs,
        rng: this.c.rng,
        isReady: (slot) => this.gate.isReady(slot),
      },
      this.init,
      now,
    );
    const t = this.c.membership.table;
    for (let s = SELF + 1; s < t.used; s++) {
      if (t.status[s] === LIVE || t.status[s] === DEAD) this.active.notePublicKey(s, keyValueOf(t.values.get(s)));
    }
    this.switches++;
  }

  /**
   * Back to mode 6: mode 7's state goes (the peer table's hook is released), and the failure detector restarts with
   * every live member as at its admission (FailureDetector.restart): heartbeats reach peers again only from now on,
   * so no member is convicted for the silence mode 7 left in its heartbeats.
   */
  private fallBack(now: number): void {
    if (this.active) {
      addCounts(this.retiredDrops, this.active.drops());
      this.retiredCensus = addCensus(this.retiredCensus, this.active);
      this.active.detach();
    }
    this.active = null;
    this.fallbacks++;
    this.c.detector.restart(now);
  }

  private observeValues(slot: number, now: number): void {
    const values = this.c.membership.table.values.get(slot);
    const speaks = values?.get(SPEAKS_KEY);
    const ready = values?.get(READY_KEY);
    this.gate.observe(
      slot,
      speaks && !speaks.tombstone ? speaks.value : undefined,
      ready && !ready.tombstone ? ready.value : undefined,
      now,
    );
  }
}

/** Adds each count of `from` to `into`'s, by reason; returns `into`. */
function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): Record<string, number> {
  for (const [reason, n] of Object.entries(from)) into[reason] = (into[reason] ?? 0) + n;
  return into;
}

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * Key bytes parsed from a stored REPORT_KEY_KEY, by the stored value: peers' StoredValue objects are never written
 * after they are stored, and tables that share them (shared-values.ts: every node of a simulation) share the bytes
 * too, which nobody writes (they are only verified against).
 */
const parsedKeys = new WeakMap<StoredValue, Uint8Array | null>();

/** A member's REPORT_KEY_KEY as key bytes; undefined when absent or malformed (then no set of it is accepted). */
function keyValueOf(values: ReadonlyMap<string, StoredValue> | null | undefined): Uint8Array | undefined {
  const held = values?.get(REPORT_KEY_KEY);
  if (held === undefined || held.tombstone) return undefined;
  let parsed = parsedKeys.get(held);
  if (parsed === undefined) {
    parsed = parseKey(held.value);
    parsedKeys.set(held, parsed);
  }
  return parsed ?? undefined;
}

function parseKey(value: string): Uint8Array | null {
  if (!/^[0-9a-f]{64}$/.test(value)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(value.slice(2 * i, 2 * i + 2), 16);
  return out;
}

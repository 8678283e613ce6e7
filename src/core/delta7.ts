/**
 * Protocol 7's node deltas (docs/design/liveness-7.md, "Reports" and "Message layouts", node delta 7): packing what a
 * peer lacks into a byte budget, and applying what a peer sent to the Membership.
 *
 * As protocol 6's deltas (delta.ts), whose value code this shares: each node delta carries a prefix, in version
 * order, of the key-values the receiver lacks (the prefix invariant), or restates them all from version 0 when the
 * receiver fell behind the owner's tombstone GC. Besides: the incarnation in place of the heartbeat (max-merged on
 * receipt), an introduction's identity, leave commitment and report-signing key (the first heard is kept), the
 * member's report set when the receiver's report version is behind (handed to the ReportBook through a callback),
 * and the leave secret once the member left (checked against its commitment). A node delta that lies or is corrupt is
 * dropped whole and counted, before it touches state; a bad report set or leave proof is dropped alone, and the rest
 * applied. Nothing here throws on received input.
 */
import type { NodeDelta7, ReportSet } from '../wire/liveness-messages.js';
import { REPORT_KEY_BYTES } from '../wire/liveness-messages.js';
import { nodeDelta7Bytes } from '../wire/liveness-sizes.js';
import { valueSize } from '../wire/message-sizes.js';
import { COMMITMENT_BYTES, LEAVE_SECRET_BYTES, type VersionedValue } from '../wire/messages.js';
import { varintSize } from '../wire/varint.js';
import { applyNodeValues, invalid, valuesAbove } from './delta.js';
import type { Candidate7 } from './digest7.js';
import { identityRef } from './identity.js';
import type { Journal } from './journal.js';
import type { LeaveProofs } from './leave-proof.js';
import { SELF } from './membership.js';
import type { OwnValues } from './own-values.js';
import { MAX_HEARTBEAT_LEAP, MAX_VERSION, MAX_VERSION_LEAP } from './peer-table.js';
import type { State7 } from './state7.js';

/** Where report sets come from and go to: the ReportBook and the own set, which live in core/liveness7.ts. */
export interface ReportSets {
  /** The set to forward for the member `ref` (our own for our ref), undefined when none is held. */
  setOf(ref: number): ReportSet | undefined;
  /**
   * A received set of `observerRef` at `incarnation`, to be checked against `publicKey` (undefined: none heard);
   * true when accepted (ReportBook.accept's 'accepted'), so its version becomes the member's report version here.
   */
  accept(observerRef: number, incarnation: number, publicKey: Uint8Array | undefined, set: ReportSet): boolean;
  /** A delta claims our own incarnation is `claimed`, above ours: the refuter goes higher (Refuter). */
  claimedAboutSelf(claimed: number): void;
}

export interface Deltas7Components {
  readonly state: State7;
  readonly journal: Journal;
  /** This node's own key-values: forged versions of ours are refuted as protocol 6 refutes them. */
  readonly own: OwnValues;
  readonly proofs: LeaveProofs;
  readonly reports: ReportSets;
}

/** Parts of node deltas dropped for a reason the journal has no name for (counted by Deltas7.dropped). */
export type Drop7Reason = 'report-refused';

export class Deltas7 {
  private readonly state: State7;
  private readonly journal: Journal;
  private readonly own: OwnValues;
  private readonly proofs: LeaveProofs;
  private readonly reports: ReportSets;
  /**
   * Report sets dropped alone (the rest of their delta applied); why (forged, unsigned) the ReportBook counts.
   */
  private readonly drops: Record<Drop7Reason, number> = { 'report-refused': 0 };

  constructor(components: Deltas7Components) {
    this.state = components.state;
    this.journal = components.journal;
    this.own = components.own;
    this.proofs = components.proofs;
    this.reports = components.reports;
  }

  /** Counts of parts dropped for reasons the journal has no name for. */
  dropped(): Readonly<Record<Drop7Reason, number>> {
    return { ...this.drops };
  }

  /**
   * Node deltas for `candidates` (in the order given) within `budgetBytes` (the list's count included). Stops at the
   * first member that does not fit; a member's values are cut to the prefix that fits, with maxVersion the last
   * one carried, so the receiver holds a prefix and asks for the rest next time.
   */
  pack(candidates: readonly Candidate7[], budgetBytes: number): NodeDelta7[] {
    const nodes: NodeDelta7[] = [];
    const room = { left: budgetBytes - varintSize(candidates.length) };
    for (const c of candidates) if (!this.addNode(nodes, room, c)) break;
    return nodes;
  }

  /**
   * Adds c's node delta within `room.left` bytes (taking them); false when nothing more should be tried (the budget
   * is spent, or this member's values were cut).
   */
  private addNode(nodes: NodeDelta7[], room: { left: number }, c: Candidate7): boolean {
    const st = this.state;
    const m = st.membership;
    const t = m.table;
    const s = c.slot;
    const myGc = t.gcVersion(s);
    const myMax = t.maxVersion(s);
    const reset = c.introduce || (c.receiverGc < myGc && c.fromVersion < myGc);
    const from = reset ? 0 : c.fromVersion;
    const all = valuesAbove(t, s, from);
    const ref = t.ref(s);
    const commitment = c.introduce ? m.commitment(s) : null;
    const publicKey = c.introduce ? st.publicKey(s) : undefined;
    const reports = t.reportVersion(s) > c.receiverReportVersion ? this.reports.setOf(ref) : undefined;
    const left = st.leaveSecret(s);
    const header: NodeDelta7 = {
      ref,
      identity: c.introduce ? m.identity(s) : null,
      incarnation: t.incarnation(s),
      lastGcVersion: myGc,
      fromVersion: from,
      maxVersion: myMax,
      values: [],
      ...(commitment ? { commitment } : {}),
      ...(publicKey ? { publicKey } : {}),
      ...(reports && reports.version === t.reportVersion(s) ? { reports } : {}),
      ...(left ? { left } : {}),
    };
    // The value count's varint at its largest; a cut maxVersion is never longer than myMax's.
    let size = nodeDelta7Bytes(header) - 1 + varintSize(all.length);
    if (size > room.left) return false;
    let k = 0;
    for (; k < all.length; k++) {
      const vs = valueSize(all[k] as VersionedValue);
      if (size + vs > room.left) break;
      size += vs;
    }
    // A header without the values it was meant to carry is worth sending only for what else it carries.
    const carriesMore =
      reset ||
      myGc > c.receiverGc ||
      t.incarnation(s) > c.receiverIncarnation ||
      header.reports !== undefined ||
      left !== undefined;
    if (k === 0 && all.length > 0 && !carriesMore) return false;
    // An introduction carries at least SPEAKS_KEY, the first value (see Deltas.addNode).
    if (k === 0 && all.length > 0 && c.introduce) return false;
    const values = k === all.length ? all : all.slice(0, k);
    nodes.push({
      ...header,
      maxVersion: k === all.length ? myMax : (values[k - 1]?.version ?? from),
      values,
    });
    room.left -= size;
    return k === all.length;
  }

  /**
   * Applies received node deltas from the address `from` (admission limits count per sender address) at `now`.
   * Bad deltas are dropped and counted; nothing throws.
   */
  apply(nodes: readonly NodeDelta7[], now: number, from?: string): void {
    for (const nd of nodes) this.applyNode(nd, now, from);
  }

  private applyNode(nd: NodeDelta7, now: number, from?: string): void {
    const st = this.state;
    const m = st.membership;
    const t = m.table;
    const refused = invalid(nd) ?? malformed(nd);
    let s = m.slotOfRef(nd.ref);
    if (s === SELF) {
      if (refused) return this.journal.reject(refused);
      if (nd.maxVersion > t.maxVersion(SELF) || nd.incarnation > t.incarnation(SELF)) this.journal.reject('about-self');
      if (nd.incarnation > t.incarnation(SELF)) this.reports.claimedAboutSelf(nd.incarnation);
      this.own.refute(Math.max(nd.maxVersion, nd.lastGcVersion), nd.values, now);
      return;
    }
    if (refused) return this.journal.reject(refused);
    if (s >= 0) {
      // Validated whole before anything is applied: a lying incarnation or version refuses the delta.
      if (nd.incarnation - t.incarnation(s) > MAX_HEARTBEAT_LEAP) return this.journal.reject('implausible-heartbeat');
      if (Math.max(nd.maxVersion, nd.lastGcVersion) - t.maxVersion(s) > MAX_VERSION_LEAP)
        return this.journal.reject('implausible-version');
    }
    const admitted = s < 0;
    if (admitted) {
      if (!nd.identity) return this.journal.reject('unknown-node');
      // The incarnation is protocol 7's liveness counter: admission's removal and revival margins read it.
      s = m.admit(nd.identity, nd.ref, nd.incarnation, now, from);
      if (s < 0) return;
      m.noteCommitment(s, nd.commitment);
      st.notePublicKey(s, nd.publicKey);
    } else if (nd.identity && identityRef(nd.identity) === nd.ref) {
      // A member we hold without a commitment or key gets the first one heard.
      m.noteCommitment(s, nd.commitment);
      st.notePublicKey(s, nd.publicKey);
    }
    if (nd.incarnation > t.incarnation(s)) t.setIncarnation(s, nd.incarnation);
    const changed = applyNodeValues(t, this.journal, nd, s);
    if (nd.reports && nd.reports.version > t.reportVersion(s)) this.takeReports(s, nd.reports);
    if (nd.left && t.left[s] === 0) this.takeLeave(s, nd.left, now);
    if (admitted) m.announce(s);
    if (changed.length > 0) this.journal.emit({ type: 'update', node: m.identity(s), keys: [...new Set(changed)] }, s);
  }

  private takeReports(s: number, set: ReportSet): void {
    const t = this.state.membership.table;
    if (this.reports.accept(t.ref(s), t.incarnation(s), this.state.publicKey(s), set))
      t.setReportVersion(s, set.version);
    else this.drops['report-refused']++;
  }

  /** A leave proof: kept (and the member left, for good) when it opens the member's commitment. */
  private takeLeave(s: number, secret: Uint8Array, now: number): void {
    const m = this.state.membership;
    const verdict = this.proofs.judge(m.commitment(s), secret);
    // As protocol 6's LEAVE: a member that made no commitment cannot be checked, and is taken at its word.
    if (verdict !== 'proven' && verdict !== 'uncommitted') return this.journal.reject('forged-leave');
    this.state.noteLeaveSecret(s, secret);
    m.markLeft(s, now, m.table.heartbeat(s));
  }
}

/** Why a node delta 7's own fields are unusable (the codec never yields these; a harness or simulator might). */
function malformed(nd: NodeDelta7): 'out-of-range' | null {
  if (!Number.isSafeInteger(nd.incarnation) || nd.incarnation < 0 || nd.incarnation > MAX_VERSION)
    return 'out-of-range';
  if (!Number.isSafeInteger(nd.fromVersion) || nd.fromVersion < 0) return 'out-of-range';
  if (nd.commitment && nd.commitment.length !== COMMITMENT_BYTES) return 'out-of-range';
  if (nd.publicKey && nd.publicKey.length !== REPORT_KEY_BYTES) return 'out-of-range';
  if (nd.left && nd.left.length !== LEAVE_SECRET_BYTES) return 'out-of-range';
  if (nd.reports && (!Number.isSafeInteger(nd.reports.version) || nd.reports.version > MAX_VERSION))
    return 'out-of-range';
  return null;
}

/**
 * Protocol 7's reports and conviction (docs/design/liveness-7.md, "Reports" and "Conviction and refutation").
 *
 * A neighbour that convicts a member publishes a *report*: a record in its own report set, a versioned part of
 * its state replaced whole (never merged) by each change and signed by the key its incarnation drew at start.
 * A receiver keeps, per observer, the highest version it verified, and convicts a member when a strict majority
 * of its neighbours (`convictionQuorum`) hold a *silent* record about its current incarnation, counting only
 * observers that are live and eligible reporters of it in the receiver's own view.
 *
 * Pure: crypto comes in through a {@link ReportSigner} (the runtime's is Ed25519, runtime/report-signer.ts; the
 * simulator's a keyed hash, sim/report-signer.ts), the clock as arguments. Memory is one entry per observer
 * that has published a set (a healthy cluster publishes none), plus an index from subject to the observers that
 * name it; nothing is allocated per (node, member) pair.
 */
import { REPORT_SILENT, type ReportRecord, type ReportSet } from '../wire/liveness-messages.js';
import { convictionQuorum, type ObserverAssignment } from './observers.js';
import { isCount, isRef, reportSignedBytes, sameSet, validContent, type ReportSigner } from './report-set.js';

export { OwnReports, reportSignedBytes, type ReportContent, type ReportSigner } from './report-set.js';

/** Why a received report set was refused (counted by reason; the runtime adds them to its rejections). */
export const REPORT_REJECT_REASONS = ['forged-report', 'unsigned-report', 'ineligible-report'] as const;
export type ReportRejectReason = (typeof REPORT_REJECT_REASONS)[number];

/** What {@link ReportBook.accept} did with a set. */
export type ReportAcceptResult = 'accepted' | 'stale' | Exclude<ReportRejectReason, 'ineligible-report'>;

/** What {@link ReportBook.acceptChanges} did with a set, and which subjects that may change. */
export interface ReportAcceptChange {
  readonly result: ReportAcceptResult;
  /**
   * When accepted: the subjects whose records the set replaced, named by the previous set or the new one, each
   * once (the previous set's first); the conviction rule's inputs changed about these and no others. Else empty.
   */
  readonly subjects: readonly number[];
}

/** What the book holds about one observer. */
interface Entry {
  /** The incarnation `set` was signed under (meaningful when `set` is not null). */
  incarnation: number;
  /** The highest version accepted, null before any. */
  set: ReportSet | null;
  /** The last set refused as forged and its incarnation, so that copies of it are refused without a check. */
  refused: ReportSet | null;
  refusedIncarnation: number;
  /** Records of `set` already counted as ineligible (allocated on the first such record). */
  ineligible: Uint8Array | null;
}

/**
 * The report sets this node received, one per observer (its highest version), and the conviction rule over them.
 * Feed it every set carried by an applied delta, this node's own set included (so its own records count).
 */
export class ReportBook {
  private readonly entries = new Map<number, Entry>();
  /** Subject ref -> observers whose accepted set names it (each observer once). */
  private readonly bySubject = new Map<number, number[]>();
  private readonly rejected = Object.fromEntries(REPORT_REJECT_REASONS.map((r) => [r, 0])) as Record<
    ReportRejectReason,
    number
  >;
  private verified = 0;
  private readonly maxRecords: number;

  /**
   * @param clusterId this cluster's id (part of the signed bytes).
   * @param signer checks signatures (its own key is not used here).
   * @param observers K (liveness.observers, the same cluster-wide, as the assignment must be): no honest observer
   * writes more than 2K records.
   */
  constructor(
    private readonly clusterId: string,
    private readonly signer: ReportSigner,
    observers: number,
  ) {
    this.maxRecords = 2 * observers;
  }

  /**
   * Takes `set`, as `observerRef` at `observerIncarnation` published it, checked against `publicKey` (the first
   * key heard for that incarnation; undefined when none was heard).
   *
   * - 'stale': a set from an older incarnation, or not above the version held for this one (not verified);
   * - 'unsigned-report': no key is known for the observer;
   * - 'forged-report': the signature fails, or the set holds more than 2K records or invalid fields;
   * - 'accepted': it replaces the observer's previous set whole (withdrawn records are gone).
   *
   * A signature is checked at most once per accepted (observer, version); a refused set's copies are refused
   * without a second check, but a different set at the same version is checked (else a forger could block the
   * observer's next version by sending a forgery of it first). Refusals are counted ({@link rejections}); the
   * caller applies the rest of the delta either way.
   */
  accept(
    observerRef: number,
    observerIncarnation: number,
    publicKey: Uint8Array | undefined,
    set: ReportSet,
  ): ReportAcceptResult {
    const entry = this.entries.get(observerRef);
    if (entry?.set) {
      if (observerIncarnation < entry.incarnation) return 'stale';
      if (observerIncarnation === entry.incarnation && set.version <= entry.set.version) return 'stale';
    }
    if (!publicKey) return this.refuse('unsigned-report');
    if (entry?.refused && entry.refusedIncarnation === observerIncarnation && sameSet(entry.refused, set)) {
      return this.refuse('forged-report');
    }
    if (
      set.records.length > this.maxRecords ||
      !isRef(observerRef) ||
      !isCount(observerIncarnation) ||
      !validContent(set) ||
      !this.check(observerRef, observerIncarnation, publicKey, set)
    ) {
      const e = entry ?? this.newEntry(observerRef);
      e.refused = set;
      e.refusedIncarnation = observerIncarnation;
      return this.refuse('forged-report');
    }
    const e = entry ?? this.newEntry(observerRef);
    if (e.set) this.unindex(observerRef, e.set);
    e.set = set;
    e.incarnation = observerIncarnation;
    e.refused = null;
    e.ineligible = null;
    this.index(observerRef, set);
    return 'accepted';
  }

  /** {@link accept}, also saying which subjects the accepted set's records are about (see ReportAcceptChange). */
  acceptChanges(
    observerRef: number,
    observerIncarnation: number,
    publicKey: Uint8Array | undefined,
    set: ReportSet,
  ): ReportAcceptChange {
    const before = this.entries.get(observerRef)?.set?.records ?? [];
    const result = this.accept(observerRef, observerIncarnation, publicKey, set);
    if (result !== 'accepted') return { result, subjects: [] };
    const subjects = new Set<number>();
    for (const r of before) subjects.add(r.subject);
    for (const r of set.records) subjects.add(r.subject);
    return { result, subjects: [...subjects] };
  }

  /** The set held for `observer` (to forward in deltas), undefined when none was accepted. */
  get(observer: number): ReportSet | undefined {
    return this.entries.get(observer)?.set ?? undefined;
  }

  /** The incarnation the held set of `observer` was signed under. */
  incarnationOf(observer: number): number | undefined {
    const e = this.entries.get(observer);
    return e?.set ? e.incarnation : undefined;
  }

  /** The highest census epoch any held set carries (0 with none): a census starts above every epoch seen. */
  highestEpoch(): number {
    let max = 0;
    for (const e of this.entries.values()) if (e.set && e.set.censusEpoch > max) max = e.set.censusEpoch;
    return max;
  }

  /** Drops what is held about `observer` (a member removed from the membership). */
  forget(observer: number): void {
    const e = this.entries.get(observer);
    if (!e) return;
    if (e.set) this.unindex(observer, e.set);
    this.entries.delete(observer);
  }

  /**
   * Whether `subject`, a live member here at `subjectIncarnation`, is convicted by the crash path: at least
   * `convictionQuorum(k)` distinct observers, k being the subject's neighbours in `assignment` (this node's view),
   * each live here (`isLive`) and an eligible reporter of the subject in `assignment`, hold a silent record
   * naming exactly `subjectIncarnation`. Outbound records never count (a node whose own outbound link fails
   * would report its healthy neighbours); records about an older incarnation were refuted. A live observer's
   * record that its eligibility does not allow is counted once as 'ineligible-report'.
   */
  convicts(
    subject: number,
    subjectIncarnation: number,
    assignment: ObserverAssignment,
    isLive: (ref: number) => boolean,
  ): boolean {
    const observers = this.bySubject.get(subject);
    if (!observers) return false;
    const quorum = convictionQuorum(assignment.observersOf(subject).length);
    let count = 0;
    for (const o of observers) {
      const kind = this.countedKind(o, subject, subjectIncarnation, assignment, isLive);
      if (kind === REPORT_SILENT && ++count >= quorum) return true;
    }
    return false;
  }

  /** Whether the set held for `observer` names anyone. */
  holdsRecords(observer: number): boolean {
    return (this.entries.get(observer)?.set?.records.length ?? 0) > 0;
  }

  /**
   * Subjects with a record (either kind) that counts here (its observer live and eligible, naming the subject's
   * current incarnation) while the subject is still live here: neither convicted (convicted members are not
   * live) nor refuted (a refutation raises the incarnation past the record's). The census start rule runs on it.
   * Ascending refs.
   *
   * @param incarnationOf the incarnation held for a member (undefined: not a member).
   */
  unresolved(
    assignment: ObserverAssignment,
    isLive: (ref: number) => boolean,
    incarnationOf: (ref: number) => number | undefined,
  ): number[] {
    const out: number[] = [];
    for (const [subject, observers] of this.bySubject) {
      const incarnation = incarnationOf(subject);
      if (incarnation === undefined || !isLive(subject)) continue;
      if (observers.some((o) => this.countedKind(o, subject, incarnation, assignment, isLive) !== 0)) out.push(subject);
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Whether some held set names `subject` at `incarnation` (either kind; eligibility and liveness not asked): a
   * record that still stands here, a withdrawn one gone with the set that replaced it.
   */
  stands(subject: number, incarnation: number | undefined): boolean {
    const names = (o: number): boolean =>
      this.entries.get(o)?.set?.records.some((r) => r.subject === subject && r.incarnation === incarnation) ?? false;
    return incarnation !== undefined && (this.bySubject.get(subject)?.some(names) ?? false);
  }

  /**
   * The highest incarnation a held record claims for `self` at or above `myIncarnation`, or -1 when none does.
   * Any record about this node's current incarnation (or a later one it never had) must be refuted, whoever
   * wrote it: refuting costs one small entry, and not refuting a record that counts elsewhere costs a death.
   */
  claimAbout(self: number, myIncarnation: number): number {
    let max = -1;
    for (const o of this.bySubject.get(self) ?? []) {
      for (const r of this.entries.get(o)?.set?.records ?? []) {
        if (r.subject === self && r.incarnation >= myIncarnation && r.incarnation > max) max = r.incarnation;
      }
    }
    return max;
  }

  /** Whether a held record names `self` at its current incarnation (or above): it must refute. */
  aboutMe(self: number, myIncarnation: number): boolean {
    return this.claimAbout(self, myIncarnation) >= 0;
  }

  /** Refused sets and records by reason, since construction. */
  rejections(): Readonly<Record<ReportRejectReason, number>> {
    return { ...this.rejected };
  }

  /** Signature checks made, since construction. */
  get verifications(): number {
    return this.verified;
  }

  /** Observers with an entry (a set held, or a forgery remembered). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The kind of `observer`'s record about (subject, incarnation) if it counts here, else 0. Counts a live
   * observer's ineligible record once per accepted version.
   */
  private countedKind(
    observer: number,
    subject: number,
    incarnation: number,
    assignment: ObserverAssignment,
    isLive: (ref: number) => boolean,
  ): number {
    const e = this.entries.get(observer);
    const records = e?.set?.records;
    if (!e || !records) return 0;
    // A set may name the subject twice (a key holder signs what it likes): a silent record wins.
    let i = -1;
    for (let j = 0; j < records.length && (i < 0 || records[i]?.kind !== REPORT_SILENT); j++) {
      const r = records[j] as ReportRecord;
      if (r.subject === subject && r.incarnation === incarnation) i = j;
    }
    if (i < 0 || !isLive(observer)) return 0;
    if (!assignment.isEligibleReporter(observer, subject)) {
      e.ineligible ??= new Uint8Array(records.length);
      if (e.ineligible[i] === 0) {
        e.ineligible[i] = 1;
        this.rejected['ineligible-report']++;
      }
      return 0;
    }
    return (records[i] as ReportRecord).kind;
  }

  private check(observer: number, incarnation: number, publicKey: Uint8Array, set: ReportSet): boolean {
    this.verified++;
    const bytes = reportSignedBytes(this.clusterId, observer, incarnation, set);
    return this.signer.verify(publicKey, bytes, set.signature);
  }

  private refuse(reason: Exclude<ReportRejectReason, 'ineligible-report'>): ReportAcceptResult {
    this.rejected[reason]++;
    return reason;
  }

  private newEntry(observer: number): Entry {
    const e: Entry = { incarnation: 0, set: null, refused: null, refusedIncarnation: 0, ineligible: null };
    this.entries.set(observer, e);
    return e;
  }

  private index(observer: number, set: ReportSet): void {
    for (const r of set.records) {
      const list = this.bySubject.get(r.subject);
      if (!list) this.bySubject.set(r.subject, [observer]);
      else if (!list.includes(observer)) list.push(observer);
    }
  }

  private unindex(observer: number, set: ReportSet): void {
    for (const r of set.records) {
      const list = this.bySubject.get(r.subject);
      if (!list) continue;
      const at = list.indexOf(observer);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0) this.bySubject.delete(r.subject);
    }
  }
}

/**
 * At most one refutation a round (docs/design/liveness-7.md, "Refutation"): a member that learns of a record
 * about its current incarnation raises it by one, or past a claim above it; a flood of reports within a round
 * costs one raise, not one per report.
 */
export class Refuter {
  private last = -Infinity;

  /** @param roundMs the shortest time between two refutations (gossipIntervalMs). */
  constructor(private readonly roundMs: number) {}

  /**
   * The incarnation to move to at `now`, or null: null when `claimed` (the highest incarnation a record or a
   * buddy flag names for this node, -1 for none: `ReportBook.claimAbout`) is below `mine`, or when the last
   * refutation was less than a round ago (the records stay, so the next call after the round refutes).
   */
  refute(now: number, mine: number, claimed: number): number | null {
    if (claimed < mine || now - this.last < this.roundMs) return null;
    this.last = now;
    return Math.max(mine, claimed) + 1;
  }
}

/**
 * Protocol 7's report sets as their observer writes and signs them (docs/design/liveness-7.md, "Reports"): the
 * signer interface, the signed bytes, and the node's own set. core/reports.ts holds the receiving side.
 */
import { InvalidArgumentError } from '../errors.js';
import { REPORT_OUTBOUND, REPORT_SILENT, type ReportRecord, type ReportSet } from '../wire/liveness-messages.js';

/**
 * Signs and checks report sets. One per incarnation: `publicKey` travels in the incarnation's introduction, and
 * the first one heard for an incarnation is the one its sets are checked against.
 */
export interface ReportSigner {
  /** This incarnation's public key (REPORT_KEY_BYTES). */
  readonly publicKey: Uint8Array;
  /** A signature (REPORT_SIGNATURE_BYTES) of `bytes` with this incarnation's private key. */
  sign(bytes: Uint8Array): Uint8Array;
  /** Whether `signature` is `publicKey`'s over `bytes`. Never throws: malformed keys or signatures are false. */
  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean;
}

/** The unsigned part of a report set. */
export interface ReportContent {
  readonly version: number;
  readonly censusEpoch: number;
  readonly records: readonly ReportRecord[];
}

/** Domain tag at the start of the signed bytes, so a report signature can never be taken for another message's. */
const SIGNED_TAG = Uint8Array.from([0x53, 0x42, 0x52, 0x45, 0x50, 0x4f, 0x52, 0x54, 0x37]); // "SBREPORT7"
const RECORD_BYTES = 6 + 8 + 1;
const REF_LIMIT = 2 ** 48;
const TWO_32 = 2 ** 32;
const encoder = new TextEncoder();

/** Records ordered by (subject, incarnation, kind): the canonical order of the signed bytes. */
export function compareRecords(a: ReportRecord, b: ReportRecord): number {
  return a.subject - b.subject || a.incarnation - b.incarnation || a.kind - b.kind;
}

export const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
export const isRef = (n: number): boolean => Number.isInteger(n) && n >= 0 && n < REF_LIMIT;

export function validRecord(r: ReportRecord): boolean {
  return isRef(r.subject) && isCount(r.incarnation) && (r.kind === REPORT_SILENT || r.kind === REPORT_OUTBOUND);
}

export function validContent(c: ReportContent): boolean {
  return isCount(c.version) && isCount(c.censusEpoch) && c.records.every(validRecord);
}

/**
 * The bytes a report set's signature covers. Fixed layout, all integers big-endian, so no two inputs share an
 * encoding:
 *
 * | field | bytes |
 * |---|---|
 * | tag "SBREPORT7" | 9 |
 * | cluster id length (UTF-8 bytes) | 4 |
 * | cluster id (UTF-8) | that length |
 * | observer ref | 6 |
 * | observer incarnation | 8 |
 * | report version | 8 |
 * | census epoch | 8 |
 * | record count | 4 |
 * | records, sorted by (subject, incarnation, kind): subject ref 6, subject incarnation 8, kind 1 | 15 each |
 *
 * The cluster id keeps a set from being replayed into another cluster sharing a key; the observer's ref and
 * incarnation keep it from being presented as another member's or another incarnation's. Records are sorted
 * here, so the order a set was built or decoded in does not matter.
 *
 * @throws InvalidArgumentError when a ref is not a 48-bit integer, a count not a safe non-negative integer, or a
 * kind unknown.
 */
export function reportSignedBytes(
  clusterId: string,
  observerRef: number,
  observerIncarnation: number,
  content: ReportContent,
): Uint8Array {
  if (!isRef(observerRef) || !isCount(observerIncarnation) || !validContent(content)) {
    throw new InvalidArgumentError('report set: refs must be 48-bit integers, counts safe non-negative integers');
  }
  const id = encoder.encode(clusterId);
  const records = [...content.records].sort(compareRecords);
  const out = new Uint8Array(SIGNED_TAG.length + 4 + id.length + 6 + 8 + 8 + 8 + 4 + records.length * RECORD_BYTES);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(SIGNED_TAG, at);
  at += SIGNED_TAG.length;
  view.setUint32(at, id.length);
  at += 4;
  out.set(id, at);
  at += id.length;
  const u48 = (n: number): void => {
    view.setUint16(at, Math.floor(n / TWO_32));
    view.setUint32(at + 2, n >>> 0);
    at += 6;
  };
  const u64 = (n: number): void => {
    view.setUint32(at, Math.floor(n / TWO_32));
    view.setUint32(at + 4, n >>> 0);
    at += 8;
  };
  u48(observerRef);
  u64(observerIncarnation);
  u64(content.version);
  u64(content.censusEpoch);
  view.setUint32(at, records.length);
  at += 4;
  for (const r of records) {
    u48(r.subject);
    u64(r.incarnation);
    out[at++] = r.kind;
  }
  return out;
}

/**
 * This node's own report set, as its neighbour detector's verdicts make it. Version 0 means nothing published
 * yet (a delta carries no set); each change of the records, or of the incarnation they are signed under,
 * publishes version + 1. Versions never go back within the node's lifetime, so a receiver comparing report
 * versions alone (a digest's column) never takes an older set for a newer one.
 */
export class OwnReports {
  private published: ReportSet | null = null;
  private records: readonly ReportRecord[] = [];
  private incarnationValue: number;
  private changed = 0;
  private readonly maxRecords: number;

  /**
   * @param clusterId the cluster id the sets are bound to.
   * @param ref this node's ref.
   * @param incarnation this node's incarnation at start.
   * @param signer this incarnation's signer.
   * @param observers K (liveness.observers): a set holds at most 2K records, one per neighbour at most.
   */
  constructor(
    private readonly clusterId: string,
    private readonly ref: number,
    incarnation: number,
    private readonly signer: ReportSigner,
    observers: number,
  ) {
    this.incarnationValue = incarnation;
    this.maxRecords = 2 * observers;
  }

  /** The set to carry in this node's deltas, null while nothing was ever published. */
  get current(): ReportSet | null {
    return this.published;
  }

  /** The published version (0: none). */
  get version(): number {
    return this.published?.version ?? 0;
  }

  /** When the last version was published (the `now` of the call that made it; 0 before any). */
  get changedAt(): number {
    return this.changed;
  }

  /**
   * Whether the current records name `subject`, at `incarnation` when given (the neighbour detector's buddy flag:
   * "I hold a report about you"; one about a refuted incarnation does not count).
   */
  holds(subject: number, incarnation?: number): boolean {
    return this.records.some(
      (r) => r.subject === subject && (incarnation === undefined || r.incarnation === incarnation),
    );
  }

  /**
   * Replaces the records with `records` (one per neighbour judged failed, any order). Publishes version + 1,
   * signed, stamped with `censusEpoch` (the newest census this node completed), when the records differ from the
   * current ones as a set; otherwise changes nothing (a new epoch alone is not a change: a set's epoch says
   * when it was written).
   *
   * @returns whether a new version was published.
   * @throws InvalidArgumentError for more than 2K records, two records about one subject, or invalid fields.
   */
  set(records: readonly ReportRecord[], now: number, censusEpoch: number): boolean {
    if (records.length > this.maxRecords) {
      throw new InvalidArgumentError(`a report set holds at most ${this.maxRecords} records (got ${records.length})`);
    }
    const sorted = [...records].sort(compareRecords);
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i] as ReportRecord;
      if (!validRecord(r)) throw new InvalidArgumentError(`invalid report record about ${String(r.subject)}`);
      if (i > 0 && (sorted[i - 1] as ReportRecord).subject === r.subject) {
        throw new InvalidArgumentError(`two report records about ${String(r.subject)}`);
      }
    }
    if (sameRecords(sorted, this.records)) return false;
    this.records = sorted.map((r) => ({ subject: r.subject, incarnation: r.incarnation, kind: r.kind }));
    this.publish(now, censusEpoch);
    return true;
  }

  /**
   * This node raised its incarnation (a refutation): a published set is signed over the incarnation, so it is
   * re-published under the new one (version + 1, same records and epoch). Nothing happens before a first set.
   *
   * @returns whether a new version was published.
   */
  setIncarnation(incarnation: number, now: number): boolean {
    if (incarnation === this.incarnationValue) return false;
    this.incarnationValue = incarnation;
    if (!this.published) return false;
    this.publish(now, this.published.censusEpoch);
    return true;
  }

  private publish(now: number, censusEpoch: number): void {
    const content = { version: this.version + 1, censusEpoch, records: this.records };
    const signature = this.signer.sign(reportSignedBytes(this.clusterId, this.ref, this.incarnationValue, content));
    this.published = { ...content, signature };
    this.changed = now;
  }
}

function sameRecords(a: readonly ReportRecord[], b: readonly ReportRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (compareRecords(a[i] as ReportRecord, b[i] as ReportRecord) !== 0) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameSet(a: ReportSet, b: ReportSet): boolean {
  return (
    a.version === b.version &&
    a.censusEpoch === b.censusEpoch &&
    a.records.length === b.records.length &&
    a.records.every((r, i) => compareRecords(r, b.records[i] as ReportRecord) === 0) &&
    sameBytes(a.signature, b.signature)
  );
}

/**
 * Reports and conviction (docs/design/liveness-7.md, "Reports", "Conviction and refutation"): a member is
 * convicted where a strict majority of its neighbours hold a silent record about its current incarnation, signed,
 * from live observers that are eligible reporters of it in the receiver's view; outbound records, older
 * incarnations, stale versions, forgeries and unsigned sets count for nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { convictionQuorum, ObserverAssignment } from '../../src/core/observers.js';
import { seededRandom } from '../../src/core/random.js';
import { OwnReports, Refuter, ReportBook, reportSignedBytes } from '../../src/core/reports.js';
import { simReportSigner, SimReportSigner } from '../../src/sim/report-signer.js';
import {
  REPORT_OUTBOUND,
  REPORT_SILENT,
  type ReportKind,
  type ReportRecord,
  type ReportSet,
} from '../../src/wire/liveness-messages.js';

const K = 4;
const CLUSTER = 'default';

/** n distinct 48-bit refs from `seed`. */
function refsOf(n: number, seed: number): number[] {
  const rng = seededRandom(seed);
  const seen = new Set<number>();
  while (seen.size < n) seen.add(Math.floor(rng.next() * 2 ** 48));
  return [...seen].sort((a, b) => a - b);
}

/** A cluster's refs, their signers and this node's book over them. */
class Fixture {
  readonly refs: number[];
  readonly assignment: ObserverAssignment;
  readonly signers = new Map<number, SimReportSigner>();
  readonly book: ReportBook;
  readonly dead = new Set<number>();
  readonly isLive = (ref: number): boolean => this.signers.has(ref) && !this.dead.has(ref);

  constructor(n: number, seed = 1) {
    this.refs = refsOf(n, seed);
    this.assignment = ObserverAssignment.of(this.refs, K);
    this.refs.forEach((r, i) => this.signers.set(r, simReportSigner(seed, i, 0)));
    // The receiver checks with its own signer instance, as a node does.
    this.book = new ReportBook(CLUSTER, simReportSigner(seed, 10_000, 0), K);
  }

  /** `observer`'s set, signed by `signer` (its own unless a forger's is given). */
  set(
    observer: number,
    version: number,
    records: ReportRecord[],
    incarnation = 0,
    signer?: SimReportSigner,
  ): ReportSet {
    const content = { version, censusEpoch: 0, records };
    const s = signer ?? this.signers.get(observer)!;
    return { ...content, signature: s.sign(reportSignedBytes(CLUSTER, observer, incarnation, content)) };
  }

  /** Delivers `observer`'s set to the book with its real key. */
  give(observer: number, version: number, records: ReportRecord[], incarnation = 0): string {
    const set = this.set(observer, version, records, incarnation);
    return this.book.accept(observer, incarnation, this.signers.get(observer)!.publicKey, set);
  }

  convicts(subject: number, incarnation = 0): boolean {
    return this.book.convicts(subject, incarnation, this.assignment, this.isLive);
  }

  /** A member with exactly `degree` neighbours. */
  subjectWithDegree(degree: number): number {
    const s = this.refs.find((r) => this.assignment.observersOf(r).length === degree);
    assert.ok(s !== undefined, `some member has ${degree} neighbours`);
    return s;
  }

  /** A live member that is not an eligible reporter of `subject`. */
  ineligibleFor(subject: number): number {
    const o = this.refs.find((r) => r !== subject && !this.assignment.isEligibleReporter(r, subject));
    assert.ok(o !== undefined);
    return o;
  }
}

const silent = (subject: number, incarnation = 0): ReportRecord => ({ subject, incarnation, kind: REPORT_SILENT });
const outbound = (subject: number, incarnation = 0): ReportRecord => ({ subject, incarnation, kind: REPORT_OUTBOUND });

test('a member with 4 neighbours is convicted by the 3rd silent report, not the 2nd', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b, c] = f.assignment.observersOf(s) as [number, number, number];
  assert.equal(f.give(a, 1, [silent(s)]), 'accepted');
  assert.equal(f.give(b, 1, [silent(s)]), 'accepted');
  assert.equal(f.convicts(s), false, '2 of 4 is no majority');
  assert.equal(f.give(c, 1, [silent(s)]), 'accepted');
  assert.equal(f.convicts(s), true, '3 of 4');
});

test('small clusters: 1 of 1 at N = 2, 2 of 2 at N = 3', () => {
  const two = new Fixture(2);
  const [x, y] = two.refs as [number, number];
  assert.equal(two.convicts(y), false);
  two.give(x, 1, [silent(y)]);
  assert.equal(two.convicts(y), true, 'the only neighbour convicts alone');

  const three = new Fixture(3);
  const [p, q, r] = three.refs as [number, number, number];
  assert.equal(convictionQuorum(three.assignment.observersOf(r).length), 2);
  three.give(p, 1, [silent(r)]);
  assert.equal(three.convicts(r), false, '1 of 2');
  three.give(q, 1, [silent(r)]);
  assert.equal(three.convicts(r), true, '2 of 2');
});

test('outbound records never convict, but leave the subject unresolved', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  for (const o of f.assignment.observersOf(s)) f.give(o, 1, [outbound(s)]);
  assert.equal(f.convicts(s), false);
  assert.deepEqual(
    f.book.unresolved(f.assignment, f.isLive, () => 0),
    [s],
  );
});

test('a signed set from an observer not eligible for its subject is counted as ineligible and does not convict', () => {
  const f = new Fixture(60);
  const s = f.subjectWithDegree(4);
  const [a, b] = f.assignment.observersOf(s) as [number, number];
  const stranger = f.ineligibleFor(s);
  assert.equal(f.give(stranger, 1, [silent(s)]), 'accepted', 'its signature is good');
  assert.deepEqual(
    f.book.unresolved(f.assignment, f.isLive, () => 0),
    [],
    'it alone starts no census',
  );
  f.give(a, 1, [silent(s)]);
  f.give(b, 1, [silent(s)]);
  assert.equal(f.convicts(s), false, 'two eligible and one ineligible are not three');
  assert.equal(f.convicts(s), false);
  assert.equal(f.book.rejections()['ineligible-report'], 1, 'counted once, however often it is looked at');
  f.give(stranger, 2, [silent(s)]);
  f.convicts(s);
  assert.equal(f.book.rejections()['ineligible-report'], 2, 'a new version is counted again');
});

test('only live observers count', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b, c] = f.assignment.observersOf(s) as [number, number, number];
  for (const o of [a, b, c]) f.give(o, 1, [silent(s)]);
  f.dead.add(c);
  assert.equal(f.convicts(s), false);
  assert.deepEqual(f.book.rejections()['ineligible-report'], 0, 'a dead observer is not an ineligible one');
});

test('each observer counts once, however many records it holds about the subject', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b] = f.assignment.observersOf(s) as [number, number];
  // A key holder may sign any set under its own key: duplicates must not multiply its voice.
  f.give(a, 1, [silent(s), silent(s), silent(s)]);
  f.give(b, 1, [silent(s)]);
  assert.equal(f.convicts(s), false);
});

test('stale versions are ignored, without a second signature check', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b, c] = f.assignment.observersOf(s) as [number, number, number];
  assert.equal(f.give(a, 2, [silent(s)]), 'accepted');
  assert.equal(f.book.verifications, 1);
  const copy = f.set(a, 2, [silent(s)]);
  assert.equal(f.book.accept(a, 0, f.signers.get(a)!.publicKey, copy), 'stale', 'the same version again');
  assert.equal(f.give(a, 1, []), 'stale', 'an older version');
  assert.equal(f.book.verifications, 1, 'checked once');
  assert.equal(f.give(a, 5, [silent(s)]), 'accepted');
  f.give(b, 1, [silent(s)]);
  f.give(c, 1, [silent(s)]);
  assert.equal(f.convicts(s), true, "the older version's withdrawal was not taken");
  // A higher incarnation of the observer starts its versions afresh; a lower one is stale.
  assert.equal(f.give(a, 1, [], 1), 'accepted');
  assert.equal(f.give(a, 9, [silent(s)], 0), 'stale');
  assert.equal(f.convicts(s), false);
});

test('a forged set is refused and counted; the other sets and the genuine next version are unaffected', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b, c] = f.assignment.observersOf(s) as [number, number, number];
  const forger = new SimReportSigner(new Uint8Array(32).fill(7));
  f.give(a, 1, [silent(s)]);
  f.give(b, 1, [silent(s)]);
  const forged = f.set(c, 1, [silent(s)], 0, forger);
  const key = f.signers.get(c)!.publicKey;
  assert.equal(f.book.accept(c, 0, key, forged), 'forged-report');
  assert.equal(f.convicts(s), false, 'the forgery is not a third report');
  const checks = f.book.verifications;
  assert.equal(f.book.accept(c, 0, key, { ...forged, records: [...forged.records] }), 'forged-report');
  assert.equal(f.book.verifications, checks, 'a copy of a refused set is not checked again');
  assert.equal(f.book.rejections()['forged-report'], 2);
  // A forger sending version 1 first does not block the observer's own version 1.
  assert.equal(f.give(c, 1, [silent(s)]), 'accepted');
  assert.equal(f.convicts(s), true);
  // Tampering with a signed set's records breaks its signature.
  const good = f.set(a, 2, [silent(s)]);
  assert.equal(
    f.book.accept(a, 0, f.signers.get(a)!.publicKey, { ...good, records: [silent(s), silent(b)] }),
    'forged-report',
  );
  // Signed for another incarnation, or another observer, it fails too.
  assert.equal(f.book.accept(a, 1, f.signers.get(a)!.publicKey, good), 'forged-report');
  assert.equal(f.book.accept(b, 0, f.signers.get(a)!.publicKey, { ...good, version: 2 }), 'forged-report');
});

test('a set from an observer without a known key is refused as unsigned', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a] = f.assignment.observersOf(s) as [number];
  assert.equal(f.book.accept(a, 0, undefined, f.set(a, 1, [silent(s)])), 'unsigned-report');
  assert.equal(f.book.rejections()['unsigned-report'], 1);
  assert.equal(f.book.get(a), undefined);
});

test('a set with more than 2K records is refused', () => {
  const f = new Fixture(30);
  const [a] = f.refs as [number];
  const records = f.refs.slice(1, 2 + 2 * K).map((r) => silent(r));
  assert.equal(records.length, 2 * K + 1);
  assert.equal(f.give(a, 1, records), 'forged-report');
  assert.equal(f.give(a, 1, records.slice(1)), 'accepted');
});

test('records about an older incarnation of the subject count for nothing', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  for (const o of f.assignment.observersOf(s)) f.give(o, 1, [silent(s, 3)]);
  assert.equal(f.convicts(s, 3), true);
  assert.equal(f.convicts(s, 4), false, 'refuted: s is at 4 now');
  assert.deepEqual(
    f.book.unresolved(f.assignment, f.isLive, () => 4),
    [],
  );
  assert.deepEqual(
    f.book.unresolved(f.assignment, f.isLive, () => 3),
    [s],
  );
});

test('replacement: a new version drops the records it no longer holds', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b, c] = f.assignment.observersOf(s) as [number, number, number];
  const t = f.refs.find((r) => r !== s && f.assignment.isEligibleReporter(a, r))!;
  f.give(a, 1, [silent(s), silent(t)]);
  f.give(b, 1, [silent(s)]);
  f.give(a, 2, [silent(t)]);
  f.give(c, 1, [silent(s)]);
  assert.equal(f.convicts(s), false, "a's record about s was withdrawn");
  assert.deepEqual(f.book.get(a)?.records, [silent(t)]);
});

test('acceptChanges names the subjects of the replaced set and of the new one, once; nothing when not accepted', () => {
  const f = new Fixture(30);
  const [a] = f.refs as [number];
  const [s, t, u] = f.refs.filter((r) => r !== a) as [number, number, number];
  const key = f.signers.get(a)!.publicKey;
  const first = f.set(a, 1, [silent(s), outbound(t)]);
  assert.deepEqual(f.book.acceptChanges(a, 0, key, first), { result: 'accepted', subjects: [s, t] });
  // t stays (its record is replaced, if alike), s is withdrawn, u is new.
  const second = f.set(a, 2, [outbound(t), silent(u)]);
  assert.deepEqual(f.book.acceptChanges(a, 0, key, second), { result: 'accepted', subjects: [s, t, u] });
  assert.deepEqual(f.book.acceptChanges(a, 0, key, first), { result: 'stale', subjects: [] });
  const forged = f.set(a, 3, [silent(s)], 0, simReportSigner(99, 0, 0));
  assert.deepEqual(f.book.acceptChanges(a, 0, key, forged), { result: 'forged-report', subjects: [] });
  assert.deepEqual(f.book.get(a)?.records, [outbound(t), silent(u)], 'what was refused changed nothing');
});

test('forget drops an observer', () => {
  const f = new Fixture(30);
  const s = f.subjectWithDegree(4);
  const [a, b, c] = f.assignment.observersOf(s) as [number, number, number];
  for (const o of [a, b, c]) f.give(o, 1, [silent(s)]);
  f.book.forget(c);
  assert.equal(f.convicts(s), false);
  assert.equal(f.book.size, 2);
  assert.equal(f.give(c, 1, [silent(s)]), 'accepted', 'a removed member that comes back starts afresh');
});

test('aboutMe, and refutation at most once a round', () => {
  const f = new Fixture(30);
  const me = f.subjectWithDegree(4);
  const [a, b] = f.assignment.observersOf(me) as [number, number];
  assert.equal(f.book.aboutMe(me, 2), false);
  f.give(a, 1, [silent(me, 2)]);
  assert.equal(f.book.aboutMe(me, 2), true);
  assert.equal(f.book.aboutMe(me, 3), false, 'a record about an older incarnation needs no refutation');
  f.give(b, 1, [outbound(me, 6)]);
  assert.equal(f.book.claimAbout(me, 2), 6, 'a claim above ours is refuted by going past it');
  const refuter = new Refuter(1_000);
  assert.equal(refuter.refute(10_000, 2, f.book.claimAbout(me, 2)), 7);
  assert.equal(refuter.refute(10_100, 7, 7), null, 'within the round');
  assert.equal(refuter.refute(10_999, 7, 7), null);
  assert.equal(refuter.refute(11_000, 7, 7), 8, 'next round');
  assert.equal(refuter.refute(20_000, 8, -1), null, 'nothing to refute');
});

test('own set: a change publishes version + 1, no change publishes nothing, and the book accepts it', () => {
  const f = new Fixture(30);
  const me = f.refs[0]!;
  const [x, y] = f.assignment.observersOf(me) as [number, number];
  const own = new OwnReports(CLUSTER, me, 0, f.signers.get(me)!, K);
  const current = (): ReportSet | null => own.current;
  assert.equal(current(), null);
  assert.equal(own.set([], 100, 0), false, 'nothing to publish');
  assert.equal(own.set([silent(x), outbound(y)], 200, 3), true);
  assert.equal(own.version, 1);
  assert.equal(own.changedAt, 200);
  assert.equal(current()?.censusEpoch, 3);
  assert.equal(own.set([outbound(y), silent(x)], 300, 4), false, 'the same records in another order');
  assert.equal(own.version, 1);
  assert.ok(own.holds(x) && own.holds(y));
  const key = f.signers.get(me)!.publicKey;
  assert.equal(f.book.accept(me, 0, key, own.current!), 'accepted');
  assert.equal(own.set([silent(x)], 400, 4), true);
  assert.equal(own.set([silent(x, 1)], 450, 4), true, 'a new incarnation of the subject is a change');
  assert.equal(own.set([], 500, 4), true, 'a withdrawal is published');
  assert.equal(own.version, 4);
  assert.equal(own.holds(x), false);
  assert.equal(f.book.accept(me, 0, key, own.current!), 'accepted');
  assert.deepEqual(f.book.get(me)?.records, []);
  // A refutation re-signs under the new incarnation, versions still rising.
  assert.equal(own.setIncarnation(1, 600), true);
  assert.equal(own.version, 5);
  assert.equal(f.book.accept(me, 1, key, own.current!), 'accepted');
  assert.equal(own.setIncarnation(1, 700), false);
  const fresh = new OwnReports(CLUSTER, me, 0, f.signers.get(me)!, K);
  assert.equal(fresh.setIncarnation(1, 0), false, 'nothing published, nothing to re-sign');
  assert.throws(
    () =>
      own.set(
        f.refs.slice(1, 2 + 2 * K).map((r) => silent(r)),
        0,
        0,
      ),
    /at most 8/,
  );
  assert.throws(() => own.set([silent(x), outbound(x)], 0, 0), /two report records/);
  assert.throws(() => own.set([{ subject: x, incarnation: 0, kind: 3 as ReportKind }], 0, 0), /invalid/);
});

test('signed bytes: documented layout, record order irrelevant, every field bound', () => {
  const a = silent(5, 1);
  const b = outbound(2 ** 48 - 1, 2 ** 40);
  const content = { version: 7, censusEpoch: 2, records: [a, b] };
  const bytes = reportSignedBytes('default', 42, 3, content);
  assert.equal(bytes.length, 9 + 4 + 7 + 6 + 8 + 8 + 8 + 4 + 2 * 15);
  assert.deepEqual(bytes, reportSignedBytes('default', 42, 3, { ...content, records: [b, a] }));
  assert.deepEqual([...bytes.subarray(9, 13)], [0, 0, 0, 7], "the cluster id's length");
  const variants = [
    reportSignedBytes('default', 43, 3, content),
    reportSignedBytes('default', 42, 4, content),
    reportSignedBytes('default', 42, 3, { ...content, version: 8 }),
    reportSignedBytes('default', 42, 3, { ...content, censusEpoch: 3 }),
    reportSignedBytes('default', 42, 3, { ...content, records: [a] }),
    reportSignedBytes('default', 42, 3, { ...content, records: [a, { ...b, kind: REPORT_SILENT }] }),
  ];
  for (const v of variants) assert.notDeepEqual(v, bytes);
  assert.throws(() => reportSignedBytes('default', 2 ** 48, 0, content), /48-bit/);
  assert.throws(() => reportSignedBytes('default', 1, -1, content), /48-bit/);
});

/**
 * The rule, written from its definition: distinct observers, live, eligible in this view, holding a silent
 * record at exactly the subject's incarnation, at least the quorum of its neighbour count.
 */
function expected(
  a: ObserverAssignment,
  sets: Map<number, ReportRecord[]>,
  subject: number,
  incarnation: number,
  live: (r: number) => boolean,
): boolean {
  let n = 0;
  for (const [o, records] of sets) {
    if (!live(o) || !a.isEligibleReporter(o, subject)) continue;
    if (records.some((r) => r.subject === subject && r.incarnation === incarnation && r.kind === REPORT_SILENT)) n++;
  }
  return n >= convictionQuorum(a.observersOf(subject).length);
}

test('property: conviction exactly when a quorum of distinct live eligible observers hold a current silent record', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 40 }),
      fc.integer(),
      fc.array(
        fc.record({
          observer: fc.nat(),
          version: fc.integer({ min: 0, max: 3 }),
          records: fc.array(
            fc.record({ subject: fc.nat(), incarnation: fc.integer({ min: 0, max: 2 }), kind: fc.constantFrom(1, 2) }),
            { maxLength: 2 * K },
          ),
        }),
        { maxLength: 60 },
      ),
      fc.array(fc.nat(), { maxLength: 5 }),
      (n, seed, deliveries, deaths) => {
        const f = new Fixture(n, seed);
        const at = (i: number): number => f.refs[i % n] as number;
        for (const d of deaths) f.dead.add(at(d));
        // What each observer holds: the last accepted (highest version) set, replacing the previous one.
        const held = new Map<number, { version: number; records: ReportRecord[] }>();
        for (const d of deliveries) {
          const o = at(d.observer);
          const records = d.records.map((r) => ({ ...r, subject: at(r.subject), kind: r.kind as ReportKind }));
          const result = f.give(o, d.version, records);
          const before = held.get(o);
          assert.equal(result, before && d.version <= before.version ? 'stale' : 'accepted');
          if (result === 'accepted') held.set(o, { version: d.version, records });
        }
        const sets = new Map([...held].map(([o, h]) => [o, h.records]));
        for (const s of f.refs) {
          for (const inc of [0, 1, 2]) {
            assert.equal(f.convicts(s, inc), expected(f.assignment, sets, s, inc, f.isLive), `subject ${s} at ${inc}`);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

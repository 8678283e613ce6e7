/**
 * Liveness7's API alone (src/core/liveness7.ts): report sets in, convictions and revivals out, refutation, and
 * the lazy withdrawal of records (liveness7-parts.ts). The composed behaviour over a network is
 * test/core/liveness7-cluster.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Liveness7 } from '../../src/core/liveness7.js';
import { keepsConvictedRecords, membershipHash } from '../../src/core/liveness7-parts.js';
import { ObserverAssignment } from '../../src/core/observers.js';
import { seededRandom } from '../../src/core/random.js';
import { OwnReports } from '../../src/core/reports.js';
import { simReportSigner, type SimReportSigner } from '../../src/sim/report-signer.js';
import { REPORT_OUTBOUND, REPORT_SILENT, type ReportKind } from '../../src/wire/liveness-messages.js';
import { liveness7Node } from './liveness7-node.js';

const CLUSTER = 'unit';
const rng = seededRandom(5);
const refs = Array.from({ length: 12 }, () => Math.floor(rng.next() * 2 ** 48));
const signers: SimReportSigner[] = refs.map((_, i) => simReportSigner(5, i, 0));

function node(i: number): Liveness7 {
  return liveness7Node({ self: refs[i]!, clusterId: CLUSTER, incarnation: 0, signer: signers[i]!, view: refs });
}

/** Observer `o`'s signed set naming `subject` at `incarnation`. */
function setBy(o: number, subject: number, incarnation: number, kind: ReportKind = REPORT_SILENT) {
  const own = new OwnReports(CLUSTER, refs[o]!, 0, signers[o]!, 4);
  own.set([{ subject: refs[subject]!, incarnation, kind }], 0, 0);
  return own.current!;
}

const assignment = ObserverAssignment.of(refs);
const indexOf = (ref: number): number => refs.indexOf(ref);
/** A member node 0 does not watch, so every report about it comes from others. */
const subject = refs.findIndex((r, i) => i > 0 && !assignment.areNeighbours(r, refs[0]!));

test('a quorum of eligible silent reports convicts (failed); a higher incarnation revives', () => {
  const u = node(0);
  const observers = assignment.observersOf(refs[subject]!).map(indexOf);
  assert.ok(observers.length >= 3);
  const quorum = Math.floor(observers.length / 2) + 1;
  for (const [j, o] of observers.slice(0, quorum).entries()) {
    assert.equal(u.acceptReportSet(refs[o]!, 0, signers[o]!.publicKey, setBy(o, subject, 0), 10), 'accepted');
    const v = u.takeVerdicts(10);
    if (j < quorum - 1) assert.deepEqual(v.convictions, [], `${j + 1} reports are not a quorum`);
    else assert.deepEqual(v.convictions, [{ ref: refs[subject]!, reason: 'failed' }]);
  }
  assert.equal(u.deadReason(refs[subject]!), 'failed');
  u.noteIncarnation(refs[subject]!, 1, 20);
  assert.deepEqual(u.takeVerdicts(20), { convictions: [], revivals: [refs[subject]!] });
  assert.equal(u.deadReason(refs[subject]!), undefined);
  // The records name the refuted incarnation 0: they count for nothing now.
  assert.deepEqual(u.takeVerdicts(21).convictions, []);
});

test('a member the coordinator holds dead (by the protocol-6 detector) is dead here, probed, and revived by its refutation', () => {
  // Not a neighbour of node 0 (whose lingering beats to a former neighbour would carry the dead-here flag too).
  const gone = subject;
  const u = node(0);
  u.setView(
    refs.filter((_, i) => i !== gone),
    0,
    [{ ref: refs[gone]!, incarnation: 2 }],
  );
  assert.equal(u.deadReason(refs[gone]!), 'inherited');
  assert.deepEqual(u.takeVerdicts(0), { convictions: [], revivals: [] }, 'not a verdict of its own');
  // A random at 0 passes the dead / (live + 1) draw: the one member held dead gets the dead-here probe.
  const probes = u.tick(1000, 0, { next: () => 0 }).filter((o) => o.to === refs[gone]);
  assert.equal(probes.length, 1);
  u.noteIncarnation(refs[gone]!, 2, 1000);
  assert.equal(u.deadReason(refs[gone]!), 'inherited', 'the incarnation it was held dead at is no refutation');
  u.noteIncarnation(refs[gone]!, 3, 1000);
  assert.deepEqual(u.takeVerdicts(1000), { convictions: [], revivals: [refs[gone]!] });
  assert.equal(u.deadReason(refs[gone]!), undefined);
  // A member this object convicted keeps its own reason.
  const v = node(0);
  for (const o of assignment.observersOf(refs[subject]!).map(indexOf)) {
    v.acceptReportSet(refs[o]!, 0, signers[o]!.publicKey, setBy(o, subject, 0), 10);
  }
  assert.deepEqual(v.takeVerdicts(10).convictions, [{ ref: refs[subject]!, reason: 'failed' }]);
  v.setView(
    refs.filter((_, i) => i !== subject),
    10,
    [{ ref: refs[subject]!, incarnation: 0 }],
  );
  assert.equal(v.deadReason(refs[subject]!), 'failed');
});

test('outbound records, forged sets and unsigned sets never convict', () => {
  const u = node(0);
  const observers = assignment.observersOf(refs[subject]!).map(indexOf);
  for (const o of observers) {
    u.acceptReportSet(refs[o]!, 0, signers[o]!.publicKey, setBy(o, subject, 0, REPORT_OUTBOUND), 10);
  }
  assert.deepEqual(u.takeVerdicts(10).convictions, [], 'outbound records do not count for the crash path');
  const v = node(0);
  for (const o of observers) {
    // Signed by o's key, checked against a key that is not its own: forged.
    assert.equal(
      v.acceptReportSet(refs[o]!, 0, simReportSigner(99, 0, 0).publicKey, setBy(o, subject, 0), 10),
      'forged-report',
    );
    assert.equal(v.acceptReportSet(refs[o]!, 0, undefined, setBy(o, subject, 0), 10), 'unsigned-report');
  }
  assert.deepEqual(v.takeVerdicts(10).convictions, []);
  assert.equal(v.rejections()['forged-report'], observers.length);
  assert.equal(v.rejections()['unsigned-report'], observers.length);
});

test('a record about this node makes it refute, at most once a round', () => {
  const me = 2;
  const u = node(me);
  const o = assignment.observersOf(refs[me]!).map(indexOf)[0]!;
  u.acceptReportSet(refs[o]!, 0, signers[o]!.publicKey, setBy(o, me, 0), 10);
  assert.equal(u.shouldRefute(10), 1);
  assert.equal(u.ownIncarnation, 1);
  assert.equal(u.shouldRefute(20), null, 'the record names incarnation 0, below ours now');
  // A claim at the new incarnation within the round waits for the round to pass.
  const own = new OwnReports(CLUSTER, refs[o]!, 0, signers[o]!, 4);
  own.set([{ subject: refs[me]!, incarnation: 0, kind: REPORT_SILENT }], 0, 0);
  own.set([{ subject: refs[me]!, incarnation: 1, kind: REPORT_SILENT }], 0, 0);
  u.acceptReportSet(refs[o]!, 0, signers[o]!.publicKey, own.current!, 30);
  assert.equal(u.shouldRefute(500), null, 'at most one refutation a round');
  assert.equal(u.shouldRefute(1010), 2);
});

test('records about convicted members stay until the set changes for another reason', () => {
  const a = { subject: 1, incarnation: 0, kind: REPORT_SILENT };
  const b = { subject: 2, incarnation: 3, kind: REPORT_SILENT };
  const c = { subject: 3, incarnation: 0, kind: REPORT_OUTBOUND };
  const convicted = (r: { subject: number }): boolean => r.subject === 1;
  assert.equal(keepsConvictedRecords([a, b], [b], convicted), true, 'only the convicted record would go');
  assert.equal(keepsConvictedRecords([a, b], [b, c], convicted), false, 'a new record: publish, dropping a');
  assert.equal(keepsConvictedRecords([a, b], [], convicted), false, 'b withdrawn: publish');
  assert.equal(keepsConvictedRecords([b], [], convicted), false, 'nothing convicted held');
  assert.equal(membershipHash([1, 2 ** 48 - 1]), 0, 'the set hash is the sum of refs mod 2^48');
});

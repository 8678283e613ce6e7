import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighbourWatch, SEQUENCE_HORIZON, type BeatInputs } from '../../src/core/neighbours.js';
import { convictionDelayMs, thresholdSigma } from '../../src/core/phi.js';
import { seededRandom } from '../../src/core/random.js';
import { DEFAULT_FAILURE_DETECTOR } from '../../src/core/types.js';
import {
  BEAT_DEAD_HERE,
  BEAT_ECHO,
  BEAT_LAST,
  BEAT_MODE_7,
  BEAT_SUSPECT_YOU,
  REPORT_OUTBOUND,
  REPORT_SILENT,
  type BeatMessage,
} from '../../src/wire/liveness-messages.js';

const FD = DEFAULT_FAILURE_DETECTOR;
const INTERVAL = 1000;
/** The pinned LAN deadline: mean 1,000 + pause 3,000 + 5.61 × min std 100. */
const DEADLINE = convictionDelayMs(INTERVAL, FD.minStdDeviationMs, FD.acceptableHeartbeatPauseMs, FD.phiThreshold);
/** The deadline after a window's first beat: the seed's spread is a quarter of the first estimate (250 ms). */
const SEEDED_DEADLINE = convictionDelayMs(1000, 250, FD.acceptableHeartbeatPauseMs, FD.phiThreshold);
/** How often the coordinator runs its detector (DETECTS_PER_ROUND). */
const CHECK = INTERVAL / 4;

const A = 0x0a0a_0000_0a0a;
const B = 0x0b0b_0000_0b0b;
const C = 0x0c0c_0000_0c0c;
const D = 0x0d0d_0000_0d0d;
const E = 0x0e0e_0000_0e0e;

const QUIET: BeatInputs = { mode7: true, suspects: () => false, deadHere: () => false };

function watch(self: number, now = 0, lingerMs?: number): NeighbourWatch {
  return new NeighbourWatch(
    { self, gossipIntervalMs: INTERVAL, failureDetector: FD, ...(lingerMs === undefined ? {} : { lingerMs }) },
    now,
  );
}

/** A beat from `from` as a scripted neighbour would send it. */
function beatFrom(from: number, sequence: number, flags = 0, echo = 0): BeatMessage {
  return { type: 'beat', flags, senderTag: from & 0xffff, sequence: sequence & 0xffff, echo, stateHash: 7 };
}

/**
 * Runs `w` as a coordinator would from `from` (inclusive) to `to` (exclusive): its beats each round, its detector
 * every quarter round (a clock read less often than every 3 s would be a stall). Returns when each subject was first
 * reported, and with what kind.
 */
function run(w: NeighbourWatch, from: number, to: number): Map<number, { at: number; kind: number }> {
  const first = new Map<number, { at: number; kind: number }>();
  for (let t = from; t < to; t += CHECK) {
    if (t % INTERVAL === 0) w.beats(t, 0, QUIET);
    for (const r of w.verdicts(t)) if (!first.has(r.subject)) first.set(r.subject, { at: t, kind: r.kind });
  }
  return first;
}

/** The first detector run after instant t. */
function nextCheck(t: number): number {
  return Math.floor(t / CHECK) * CHECK + CHECK;
}

function kinds(w: NeighbourWatch, now: number): Map<number, number> {
  return new Map(w.verdicts(now).map((r) => [r.subject, r.kind]));
}

/**
 * Two watches beating each other: A's round at t = k × 1000, B's at k × 1000 + 500. `drop(from, beat)` loses a
 * beat on the way. The detector runs at every quarter round on both sides, and `onCheck` sees each run.
 */
class Pair {
  readonly a = watch(A);
  readonly b = watch(B);
  t = 0;
  /** Instant of the last beat of B that reached A. */
  lastAtA = Number.NaN;
  bCrashed = false;
  drop: (from: number, beat: BeatMessage) => boolean = () => false;
  onCheck: (t: number) => void = () => {};
  constructor() {
    this.a.setNeighbours([B], 0);
    this.b.setNeighbours([A], 0);
  }

  /** Runs rounds until `until` (exclusive), in quarter-round steps. */
  runUntil(until: number): void {
    for (; this.t < until; this.t += CHECK) {
      const phase = this.t % INTERVAL;
      if (phase === 0) this.send(this.a, A, this.b);
      if (phase === 500 && !this.bCrashed) this.send(this.b, B, this.a);
      this.onCheck(this.t);
    }
  }

  private send(from: NeighbourWatch, fromRef: number, to: NeighbourWatch): void {
    for (const { to: ref, beat } of from.beats(this.t, 0, QUIET)) {
      if (this.drop(fromRef, beat)) continue;
      assert.notEqual(to.onBeat(fromRef, beat, this.t), null);
      if (to === this.a && ref === A) this.lastAtA = this.t;
    }
  }
}

test('steady 1 s beats: the silent deadline is pinned 4,561.2 ms after the last beat', () => {
  // The formula, from phi.ts: mean 1,000 + pause 3,000 + thresholdSigma(8) × max(std, 100), with lag 0.
  assert.ok(Math.abs(thresholdSigma(8) - 5.612) < 0.001);
  assert.ok(Math.abs(DEADLINE - 4561.2) < 0.05, `deadline ${DEADLINE}`);
  const w = watch(A);
  w.setNeighbours([B], 0);
  w.onBeat(B, beatFrom(B, 0), 0);
  // The first beat opens the window on the seed (1,000 ± 250 ms): a wider deadline until beats are measured.
  assert.ok(Math.abs(w.silentDeadline(B) - SEEDED_DEADLINE) < 1e-6, `seeded ${w.silentDeadline(B)}`);
  for (let k = 1; k < 30; k++) w.onBeat(B, beatFrom(B, k), k * INTERVAL);
  const last = 29 * INTERVAL;
  assert.ok(Math.abs(w.silentDeadline(B) - last - 4561.2) < 0.05, `deadline ${w.silentDeadline(B) - last}`);
  assert.ok(Math.abs(w.silentDeadline(B) - last - DEADLINE) < 1e-6);
});

test('a crash: silent report at the deadline after the last beat and never before; withdrawn when beats resume', () => {
  const pair = new Pair();
  pair.runUntil(60_000);
  assert.deepEqual(pair.a.verdicts(pair.t), []);
  pair.bCrashed = true;
  const last = pair.lastAtA;
  assert.equal(last, 59_500);
  // Every millisecond up to the deadline: no report (A keeps beating its rounds meanwhile).
  for (let t = last; t <= last + 4561; t++) {
    if (t % INTERVAL === 0) pair.a.beats(t, 0, QUIET);
    assert.deepEqual(pair.a.verdicts(t), [], `reported at +${t - last} ms`);
  }
  // Just past it: silent (its echo stopped at the same instant; silence is the report, not outbound).
  assert.deepEqual(pair.a.verdicts(last + 4561.3), [{ subject: B, kind: REPORT_SILENT }]);
  pair.t = 65_000;
  pair.runUntil(90_000);
  assert.deepEqual(pair.a.verdicts(pair.t), [{ subject: B, kind: REPORT_SILENT }]);
  // B back (a paused process, say): its next beat, echoing A's, withdraws the report.
  pair.bCrashed = false;
  pair.runUntil(90_750);
  assert.equal(pair.lastAtA, 90_500);
  assert.deepEqual(pair.a.verdicts(pair.t), []);
});

/** The phi deadline's allowance for a late beat at the minimum spread: thresholdSigma(8) × 100 ms. */
const ALLOWANCE = DEADLINE - INTERVAL - FD.acceptableHeartbeatPauseMs;

/**
 * Runs A and B with `lossy`'s beats to the other lost with probability `loss` for `minutes`, after a lossless
 * minute. Counts A's reports about B by kind (a report lasting several checks once), and the runs of 4 losses or
 * more: each alone passes the phi deadline (the next arrival comes 5 s after the last).
 */
function lossyRun(
  loss: number,
  minutes: number,
  seed: number,
  lossy = B,
): { pair: Pair; silent: number; outbound: number; runsOf4: number } {
  const pair = new Pair();
  const rng = seededRandom(seed);
  const lossFrom = 60_000;
  const lossUntil = lossFrom + minutes * 60_000;
  let silent = 0;
  let outbound = 0;
  let was: number | undefined;
  let run = 0;
  let runsOf4 = 0;
  pair.drop = (from) => {
    if (from !== lossy || pair.t < lossFrom) return false;
    const lost = rng.next() < loss;
    run = lost ? run + 1 : 0;
    if (run === 4) runsOf4++;
    return lost;
  };
  pair.onCheck = (t) => {
    const kind = kinds(pair.a, t).get(B);
    if (kind === REPORT_SILENT && was !== kind) silent++;
    if (kind === REPORT_OUTBOUND && was !== kind) outbound++;
    if (kind === REPORT_SILENT) {
      // A report needs both deadlines: phi's, and the run of missed beats B's measured loss explains.
      const missed = Math.floor((t - pair.lastAtA - ALLOWANCE) / INTERVAL);
      assert.ok(t - pair.lastAtA > DEADLINE, `report at ${t}, ${t - pair.lastAtA} ms after a beat`);
      assert.ok(missed >= pair.a.linkLoss(B)!.silentRun, `report at ${t} after ${missed} missed beats`);
    }
    was = kind;
  };
  pair.runUntil(lossUntil);
  return { pair, silent, outbound, runsOf4 };
}

test('30 % loss of one neighbour’s beats for 30 min: runs of 4 losses make no silent report, 8 are needed', () => {
  const { pair, silent, outbound, runsOf4 } = lossyRun(0.3, 30, 1);
  const loss = pair.a.linkLoss(B)!;
  console.log(
    `30 % loss, 30 min, seed 1: ${silent} false silent reports, ${runsOf4} runs of >= 4 losses (each one a report ` +
      `by phi alone); measured loss ${loss.beatsLost.toFixed(3)}, run needed ${loss.silentRun}`,
  );
  assert.ok(runsOf4 >= 8, `${runsOf4} runs of 4`);
  // 0.7 × 0.3^8 a beat: 0.08 expected in 30 min once the estimate has settled.
  assert.ok(silent <= 1, `${silent} false silent reports`);
  assert.ok(loss.beatsLost > 0.2 && loss.beatsLost < 0.4, `loss ${loss.beatsLost}`);
  assert.ok(loss.silentRun >= 7 && loss.silentRun <= 10, `run ${loss.silentRun}`);
  // The echoes ride on B's beats: they skip the same beats, so their deadline waits as long.
  assert.equal(loss.echoRun, loss.silentRun);
  assert.equal(outbound, 0, 'lost beats of its own are no outbound report');
});

test('30 % loss of our beats to a neighbour for 30 min: the echoes show it, and runs of 4 make no outbound report', () => {
  const { pair, silent, outbound, runsOf4 } = lossyRun(0.3, 30, 4, A);
  const loss = pair.a.linkLoss(B)!;
  console.log(
    `30 % loss of A's beats, 30 min, seed 4: ${outbound} false outbound reports, ${runsOf4} runs of >= 4 losses; ` +
      `echoes skip ${loss.echoesLost.toFixed(3)}, run needed ${loss.echoRun}`,
  );
  assert.ok(runsOf4 >= 8, `${runsOf4} runs of 4`);
  assert.ok(outbound <= 1, `${outbound} false outbound reports`);
  assert.equal(silent, 0, 'B’s beats all arrive');
  assert.ok(loss.echoesLost > 0.2 && loss.echoesLost < 0.4, `echo loss ${loss.echoesLost}`);
  assert.ok(loss.echoRun >= 7 && loss.echoRun <= 10, `echo run ${loss.echoRun}`);
  assert.ok(loss.beatsLost < 0.05 && loss.silentRun <= 4, `beats lost ${loss.beatsLost}`);
});

test('a crash after 30 min at 30 % loss: reported when the run its loss explains ends, 8 or so beats, not before', () => {
  const { pair } = lossyRun(0.3, 30, 3);
  pair.bCrashed = true;
  const last = pair.lastAtA;
  const run = pair.a.linkLoss(B)!.silentRun;
  assert.ok(run >= 7 && run <= 10, `run ${run}`);
  // The sender's period stays 1,000 ms (shared gaps), so the deadline is last + run × 1,000 + the allowance.
  const after = pair.a.silentDeadline(B) - last;
  assert.ok(Math.abs(after - (run * INTERVAL + ALLOWANCE)) < 1, `deadline ${after.toFixed(1)} ms after the last beat`);
  let reportedAt = Number.NaN;
  pair.onCheck = (t) => {
    const kind = kinds(pair.a, t).get(B);
    if (t <= last + after) assert.equal(kind, undefined, `reported at +${t - last} ms`);
    else if (Number.isNaN(reportedAt)) {
      assert.equal(kind, REPORT_SILENT);
      reportedAt = t;
    }
  };
  pair.runUntil(pair.t + 30_000);
  console.log(`crash at 30 % loss, seed 3: run ${run}, reported ${reportedAt - last} ms after the last beat`);
  assert.ok(reportedAt <= last + after + CHECK, `reported at +${reportedAt - last}`);
});

test('10 % loss for 30 min: no false report, and a crash after it is seen at the phi deadline or one beat later', () => {
  const { pair, silent, runsOf4 } = lossyRun(0.1, 30, 2);
  console.log(`10 % loss, 30 min, seed 2: ${silent} false silent reports, ${runsOf4} runs of >= 4 losses`);
  assert.equal(silent, 0);
  // Shared gaps keep the window on B's own period; a measured loss of 10 % or more waits for a run of 5.
  pair.bCrashed = true;
  const last = pair.lastAtA;
  const { beatsLost, silentRun } = pair.a.linkLoss(B)!;
  assert.equal(silentRun, beatsLost < 0.1 ? 4 : 5, `loss ${beatsLost}, run ${silentRun}`);
  const after = pair.a.silentDeadline(B) - last;
  const expected = Math.max(DEADLINE, silentRun * INTERVAL + ALLOWANCE);
  assert.ok(Math.abs(after - expected) < 5, `deadline ${after.toFixed(1)} ms after the last beat`);
  let reportedAt = Number.NaN;
  pair.onCheck = (t) => {
    if (Number.isNaN(reportedAt) && kinds(pair.a, t).get(B) === REPORT_SILENT) reportedAt = t;
  };
  pair.runUntil(pair.t + 10_000);
  assert.ok(reportedAt > last + after && reportedAt <= last + after + CHECK, `reported at +${reportedAt - last}`);
});

test('one-way loss (its beats arrive, ours do not): outbound report at the echo deadline, not silent', () => {
  const pair = new Pair();
  pair.runUntil(60_000);
  const cutAt = pair.t;
  pair.drop = (from) => from === A && pair.t < cutAt + 20_000;
  // A's last beat to reach B is the one at 59,000; B echoes it at 59,500 for the last time, then repeats it.
  const lastEcho = 59_500;
  const seenByA: number[] = [];
  const seenByB: number[] = [];
  pair.onCheck = (t) => {
    const a = kinds(pair.a, t).get(B);
    const b = kinds(pair.b, t).get(A);
    assert.notEqual(a, REPORT_SILENT, 'B’s beats arrive: A must not call it silent');
    if (t < cutAt + 20_000) {
      assert.equal(a === REPORT_OUTBOUND, t > lastEcho + DEADLINE, `A’s verdict at ${t}`);
      assert.equal(b === REPORT_SILENT, t > 59_000 + DEADLINE, `B’s verdict at ${t}`);
    }
    if (a !== undefined) seenByA.push(t);
    if (b !== undefined) seenByB.push(t);
  };
  pair.runUntil(cutAt + 30_000);
  assert.ok(seenByA.length > 0 && seenByB.length > 0);
  // The link back: A's beat at +20 s reaches B, B's beat at +20.5 s echoes it, and both reports go.
  assert.equal(Math.max(...seenByA), cutAt + 20_250);
  assert.equal(Math.max(...seenByB), cutAt + 19_750);
  assert.deepEqual(pair.a.verdicts(pair.t), []);
  assert.deepEqual(pair.b.verdicts(pair.t), []);
});

test('an echo of a beat never sent does not hold off the outbound report', () => {
  const w = watch(A);
  w.setNeighbours([B], 0);
  let report: number | undefined;
  let at = 0;
  for (let k = 0; k < 30 && report === undefined; k++) {
    const t = k * INTERVAL;
    w.beats(t, 0, QUIET);
    // B echoes a sequence ahead of anything A sent (a forged or confused echo).
    w.onBeat(B, beatFrom(B, k, BEAT_ECHO, (k + 5) & 0xffff), t + 500);
    for (let c = 0; c < 4 && report === undefined; c++) {
      at = t + 500 + c * CHECK;
      report = kinds(w, at).get(B);
    }
  }
  assert.equal(report, REPORT_OUTBOUND);
  // The echo window never advanced: the report comes at the seeded deadline after B's first beat.
  assert.ok(at > 500 + SEEDED_DEADLINE && at <= 500 + SEEDED_DEADLINE + CHECK, `outbound at ${at}`);
});

test('no report before a first beat; the window opens at it', () => {
  const w = watch(A);
  w.setNeighbours([B, C], 0);
  for (let t = 0; t < 60_000; t += CHECK) {
    if (t % INTERVAL === 0) {
      const to = w.beats(t, 0, QUIET).map((o) => o.to);
      assert.deepEqual(to, [B, C], 'both are beaten from the first round');
      w.onBeat(C, beatFrom(C, t / INTERVAL, BEAT_ECHO, t / INTERVAL), t);
    }
    assert.deepEqual(w.verdicts(t), [], `reported at ${t}`);
  }
  assert.ok(Number.isNaN(w.silentDeadline(B)));
  // B's first beat, then nothing: reported at the seeded deadline after it.
  w.setNeighbours([B], 60_000);
  w.onBeat(B, beatFrom(B, 0), 60_000);
  const first = run(w, 60_000, 80_000).get(B);
  assert.equal(first?.kind, REPORT_SILENT);
  assert.ok(first.at > 60_000 + SEEDED_DEADLINE && first.at <= 60_000 + SEEDED_DEADLINE + CHECK, `at ${first.at}`);
});

test('linger: a dropped neighbour is beaten for one deadline, the last beat flagged, and the receiver never reports', () => {
  const pair = new Pair();
  pair.runUntil(60_000);
  // A's view drops B (B's still lists A); B's beats keep coming to A.
  const dropAt = 60_000;
  pair.a.setNeighbours([], dropAt);
  const toB: BeatMessage[] = [];
  const beats = pair.a.beats.bind(pair.a);
  pair.a.beats = (now, hash, inputs) => {
    const out = beats(now, hash, inputs);
    for (const o of out) if (o.to === B) toB.push(o.beat);
    return out;
  };
  pair.onCheck = (t) => {
    assert.deepEqual(pair.a.verdicts(t), [], `A judged a dropped neighbour at ${t}`);
    assert.deepEqual(pair.b.verdicts(t), [], `B reported A at ${t}`);
  };
  pair.runUntil(120_000);
  // Beats at 60 s ... 64 s (before 60 s + 4,561 ms), then the last one at 65 s.
  assert.equal(toB.length, 6);
  assert.deepEqual(
    toB.map((b) => (b.flags & BEAT_LAST) !== 0),
    [false, false, false, false, false, true],
  );
  assert.deepEqual(pair.a.beaten(), []);
  assert.ok(Number.isNaN(pair.b.silentDeadline(A)), 'B closed its window');
  // A's view takes B back: its beats continue forward and B opens a new window at the first.
  pair.a.setNeighbours([B], pair.t);
  pair.onCheck = () => {};
  pair.runUntil(130_000);
  assert.ok(toB.length > 6 && toB[6]!.sequence > toB[5]!.sequence);
  assert.ok(pair.b.silentDeadline(A) > pair.t);
});

test('a lingering neighbour is beaten but no longer judged', () => {
  // A's view dropped B because B died: B is silent from the drop on, and A reports nothing about it.
  const pair = new Pair();
  pair.runUntil(60_000);
  pair.bCrashed = true;
  pair.a.setNeighbours([], 60_000);
  pair.onCheck = (t) => assert.deepEqual(pair.a.verdicts(t), [], `A judged a dropped neighbour at ${t}`);
  pair.runUntil(70_000);
  assert.deepEqual(pair.a.beaten(), []);
});

test('sequence wrap at 65,535: no report across it, and the deadline stays pinned after it', () => {
  const pair = new Pair();
  const sequences: number[] = [];
  const onBeat = pair.b.onBeat.bind(pair.b);
  pair.b.onBeat = (from, beat, now) => {
    if (now > 60_000 && (beat.sequence >= 65_530 || beat.sequence < 5)) sequences.push(beat.sequence);
    return onBeat(from, beat, now);
  };
  let reports = 0;
  pair.onCheck = (t) => {
    if (t % INTERVAL === 750) reports += pair.a.verdicts(t).length + pair.b.verdicts(t).length;
  };
  pair.runUntil(65_600 * INTERVAL);
  assert.deepEqual(sequences, [65_530, 65_531, 65_532, 65_533, 65_534, 65_535, 0, 1, 2, 3, 4]);
  assert.equal(reports, 0);
  const last = pair.lastAtA;
  assert.ok(Math.abs(pair.a.silentDeadline(B) - last - DEADLINE) < 0.01);
  assert.ok(Math.abs(pair.a.echoDeadline(B) - last - DEADLINE) < 0.01);
});

test('sequences far behind or far ahead are a sender counting again: re-anchored, never a sample', () => {
  const w = watch(A);
  w.setNeighbours([B], 0);
  for (let k = 0; k < 30; k++) w.onBeat(B, beatFrom(B, 1000 + k), k * INTERVAL);
  const pinned = w.silentDeadline(B) - 29 * INTERVAL;
  // A late duplicate a few beats behind is not timed.
  w.onBeat(B, beatFrom(B, 1020), 29_500);
  assert.equal(w.silentDeadline(B) - 29 * INTERVAL, pinned);
  // A count started again (far behind), then far ahead: each re-anchors the window, the period is unchanged.
  w.onBeat(B, beatFrom(B, 3), 30_000);
  assert.ok(Math.abs(w.silentDeadline(B) - 30_000 - pinned) < 1e-9);
  w.onBeat(B, beatFrom(B, 3 + SEQUENCE_HORIZON + 1), 31_000);
  assert.ok(Math.abs(w.silentDeadline(B) - 31_000 - pinned) < 1e-9);
});

/** A watching four scripted neighbours that beat at every round's 500 ms while `beating(ref, t)`. */
function fourNeighbours(beating: (ref: number, t: number) => boolean, until: number): NeighbourWatch {
  const w = watch(A);
  const refs = [B, C, D, E];
  w.setNeighbours(refs, 0);
  for (let t = 0; t < until; t += CHECK) {
    if (t % INTERVAL === 0) w.beats(t, 0, QUIET);
    const k = Math.floor(t / INTERVAL);
    if (t % INTERVAL === 500) for (const r of refs) if (beating(r, t)) w.onBeat(r, beatFrom(r, k, BEAT_ECHO, k), t);
    w.verdicts(t);
  }
  return w;
}

test('deafness: hearing none of 3+ neighbours for two rounds holds reports; the silence is excused after', () => {
  // B crashed at 20 s (reported at 24.5 s); every other neighbour goes quiet at 40 s for 10 s: our own link.
  const heard = (r: number, t: number): boolean => (r === B ? t < 20_000 : t < 40_000 || t >= 50_000);
  const w = fourNeighbours(heard, 40_000);
  assert.deepEqual(w.verdicts(40_000), [{ subject: B, kind: REPORT_SILENT }]);
  for (let t = 40_000; t < 50_000; t += CHECK) {
    if (t % INTERVAL === 0) w.beats(t, 0, QUIET);
    // The others' deadline is 39,500 + 4,561 ms; deaf from 41,500 on, so nothing new is reported.
    assert.equal(w.deaf(t), t > 41_500, `deaf at ${t}`);
    assert.deepEqual(w.verdicts(t), [{ subject: B, kind: REPORT_SILENT }], `verdicts at ${t}`);
  }
  // C heard again at 50.5 s: the spell ends, and every deadline moved by it, so D and E (whose next beats are
  // on their way) are not reported for a silence that was ours.
  w.beats(50_000, 0, QUIET);
  w.onBeat(C, beatFrom(C, 50, BEAT_ECHO, 50), 50_500);
  assert.equal(w.deaf(50_500), false);
  assert.equal(w.deafSpells, 1);
  assert.deepEqual(w.verdicts(50_500), [{ subject: B, kind: REPORT_SILENT }]);
  for (const r of [D, E]) w.onBeat(r, beatFrom(r, 50, BEAT_ECHO, 50), 50_600);
  assert.deepEqual(w.verdicts(50_600), [{ subject: B, kind: REPORT_SILENT }]);
});

test('deafness is bounded by the hold, and with fewer than 3 neighbours there is none', () => {
  // Everyone quiet from 40 s for good: held for 8 × (1 s + 3 s) = 32 s of silence, then reported.
  const w = fourNeighbours((_r, t) => t < 40_000, 40_000);
  const lastHeard = 39_500;
  const hold = 8 * (INTERVAL + FD.acceptableHeartbeatPauseMs);
  const reported = run(w, 40_000, 80_000);
  assert.deepEqual(
    [...reported.values()],
    [B, C, D, E].map(() => ({ at: lastHeard + hold, kind: REPORT_SILENT })),
  );
  assert.equal(w.deafSpells, 0, 'a spell is counted when it ends');
  // Two neighbours, both quiet: silence is informative, reported at the deadline.
  const two = watch(A);
  two.setNeighbours([B, C], 0);
  for (let k = 0; k < 40; k++) {
    two.beats(k * INTERVAL, 0, QUIET);
    for (const r of [B, C]) two.onBeat(r, beatFrom(r, k, BEAT_ECHO, k), k * INTERVAL + 500);
  }
  const both = run(two, 40_000, 50_000);
  assert.equal(two.deaf(49_000), false);
  assert.deepEqual(
    [...both.values()].map((r) => r.at),
    [39_500 + DEADLINE, 39_500 + DEADLINE].map(nextCheck),
  );
});

test('a stall of this process moves the deadlines by the time it was not listening', () => {
  const w = watch(A);
  w.setNeighbours([B], 0);
  for (let k = 0; k < 40; k++) {
    w.beats(k * INTERVAL, 0, QUIET);
    w.onBeat(B, beatFrom(B, k, BEAT_ECHO, k), k * INTERVAL + 500);
  }
  // Nothing ran from 39.5 s to 49.5 s; the first call after is the detector's.
  assert.deepEqual(w.verdicts(49_500), []);
  assert.equal(w.stalls, 1);
  // The deadline moved by the stall less one round: B still has its whole deadline from 48.5 s.
  assert.ok(Math.abs(w.silentDeadline(B) - (48_500 + DEADLINE)) < 1e-6);
  const first = run(w, 49_750, 60_000).get(B);
  assert.deepEqual(first, { at: nextCheck(48_500 + DEADLINE), kind: REPORT_SILENT });
});

test('flags: mode 7, the buddy flag and dead-here go out per neighbour and come back as news; a wrong tag is dropped', () => {
  const w = watch(A);
  w.setNeighbours([B, C], 0);
  const first = w.beats(0, 42, { mode7: true, suspects: (r) => r === B, deadHere: (r) => r === C });
  assert.deepEqual(
    first.map((o) => [o.to, o.beat.flags, o.beat.senderTag, o.beat.sequence, o.beat.stateHash]),
    [
      [B, BEAT_MODE_7 | BEAT_SUSPECT_YOU, A & 0xffff, 0, 42],
      [C, BEAT_MODE_7 | BEAT_DEAD_HERE, A & 0xffff, 0, 42],
    ],
  );
  // No echo until a beat was received; then the newest received sequence, flagged.
  w.onBeat(B, beatFrom(B, 17, BEAT_ECHO | BEAT_SUSPECT_YOU | BEAT_MODE_7, 0), 500);
  const second = w.beats(1000, 42, { mode7: false, suspects: () => false, deadHere: () => false });
  assert.deepEqual(
    second.map((o) => [o.to, o.beat.flags, o.beat.sequence, o.beat.echo]),
    [
      [B, BEAT_ECHO, 1, 17],
      [C, 0, 1, 0],
    ],
  );
  assert.deepEqual(w.onBeat(C, beatFrom(C, 3, BEAT_DEAD_HERE), 1500), {
    stateHash: 7,
    suspectsYou: false,
    deadHere: true,
    mode7: false,
    last: false,
    watched: true,
  });
  assert.equal(w.onBeat(C, { ...beatFrom(C, 4), senderTag: B & 0xffff }, 2500), null);
  assert.equal(w.onBeat(D, beatFrom(D, 0), 2500)?.watched, false);
});

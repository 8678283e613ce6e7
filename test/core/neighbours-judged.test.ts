import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeighbourWatch, type BeatInputs, type NeighbourReport } from '../../src/core/neighbours.js';
import { seededRandom } from '../../src/core/random.js';
import { DEFAULT_FAILURE_DETECTOR } from '../../src/core/types.js';
import { BEAT_ECHO, BEAT_LAST, REPORT_OUTBOUND, REPORT_SILENT } from '../../src/wire/liveness-messages.js';

const INTERVAL = 1000;
const QUIET: BeatInputs = { mode7: true, suspects: () => false, deadHere: () => false };
const A = 0x0a0a_0000_0a0a;
const OTHERS = [0x0b0b_0000_0b0b, 0x0c0c_0000_0c0c, 0x0d0d_0000_0d0d, 0x0e0e_0000_0e0e, 0x0f0f_0000_0f0f];

/** A scripted neighbour: its own phase and sequence, and what it does to and with the beats between it and A. */
interface Scripted {
  readonly ref: number;
  next: number;
  sequence: number;
  /** The newest sequence of A's it received (-1: none), echoed in its beats. */
  heard: number;
  crashed: boolean;
  /** Loss of its beats to A, and of A's beats to it. */
  lossIn: number;
  lossOut: number;
}

/** The reports as every judged neighbour's deadlines say at `now`, read one by one (no result kept). */
function fromDeadlines(w: NeighbourWatch, now: number): NeighbourReport[] {
  const out: NeighbourReport[] = [];
  for (const ref of [...OTHERS].sort((a, b) => a - b)) {
    const silent = w.silentDeadline(ref);
    if (Number.isNaN(silent)) continue;
    if (now > silent) out.push({ subject: ref, kind: REPORT_SILENT });
    else if (now > w.echoDeadline(ref)) out.push({ subject: ref, kind: REPORT_OUTBOUND });
  }
  return out;
}

/**
 * The verdicts are kept between deadlines and updated per beat (NeighbourWatch.judge, moved): at every reading they
 * must equal a judgement made afresh from each neighbour's deadlines. Crashes and returns, loss each way, one-way
 * cuts, closing beats and neighbours dropped and taken back, read at random instants, over ten seeded runs.
 */
test('the kept verdicts equal a fresh judgement from the deadlines at every reading', () => {
  let reported = { silent: 0, outbound: 0, withdrawn: 0 };
  for (let seed = 1; seed <= 10; seed++) {
    const rng = seededRandom(seed);
    const w = new NeighbourWatch({ self: A, gossipIntervalMs: INTERVAL, failureDetector: DEFAULT_FAILURE_DETECTOR }, 0);
    const peers: Scripted[] = OTHERS.map((ref) => ({
      ref,
      next: Math.floor(rng.next() * INTERVAL),
      sequence: 0,
      heard: -1,
      crashed: false,
      lossIn: 0,
      lossOut: 0,
    }));
    let listed = [...OTHERS];
    w.setNeighbours(listed, 0);
    let nextRound = 0;
    let nextRead = 0;
    let nextChange = 20_000;
    let before: readonly NeighbourReport[] = [];
    for (let t = 0; t < 600_000; t += 5) {
      if (t >= nextChange) {
        nextChange += 10_000 + Math.floor(rng.next() * 20_000);
        const p = peers[Math.floor(rng.next() * peers.length)] as Scripted;
        const roll = rng.next();
        if (roll < 0.3) p.crashed = !p.crashed;
        else if (roll < 0.5) p.lossIn = p.lossIn > 0 ? 0 : 0.3;
        else if (roll < 0.7) p.lossOut = p.lossOut > 0 ? 0 : rng.next() < 0.5 ? 1 : 0.3;
        else if (roll < 0.85) {
          listed = listed.includes(p.ref) ? listed.filter((r) => r !== p.ref) : [...listed, p.ref];
          w.setNeighbours(listed, t);
        } else {
          p.sequence++;
          if (!p.crashed) w.onBeat(p.ref, beat(p, BEAT_LAST), t);
        }
      }
      if (t >= nextRound) {
        nextRound += INTERVAL;
        for (const out of w.beats(t, 0, QUIET)) {
          const p = peers.find((q) => q.ref === out.to) as Scripted;
          if (!p.crashed && rng.next() >= p.lossOut) p.heard = out.beat.sequence;
        }
      }
      for (const p of peers) {
        if (t < p.next) continue;
        p.next += INTERVAL - 20 + Math.floor(rng.next() * 40);
        p.sequence++;
        if (!p.crashed && rng.next() >= p.lossIn) w.onBeat(p.ref, beat(p, p.heard >= 0 ? BEAT_ECHO : 0), t);
      }
      if (t >= nextRead) {
        nextRead += 25 + Math.floor(rng.next() * 400);
        const got = rng.next() < 0.5 ? w.verdicts(t, { throughDeafness: true }) : w.verdicts(t);
        if (w.deaf(t)) continue;
        assert.deepEqual(got, fromDeadlines(w, t), `seed ${seed} at ${t} ms`);
        for (const r of got) if (!before.some((b) => b.subject === r.subject && b.kind === r.kind)) count(r.kind);
        reported.withdrawn += before.filter((b) => !got.some((r) => r.subject === b.subject)).length;
        before = got;
      }
    }
  }
  // The runs reach every path: reports of both kinds made and withdrawn.
  assert.ok(reported.silent > 10 && reported.outbound > 10 && reported.withdrawn > 10, JSON.stringify(reported));

  function count(kind: number): void {
    reported = {
      ...reported,
      [kind === REPORT_SILENT ? 'silent' : 'outbound']: reported[kind === REPORT_SILENT ? 'silent' : 'outbound'] + 1,
    };
  }
});

function beat(
  p: Scripted,
  flags: number,
): { type: 'beat'; flags: number; senderTag: number; sequence: number; echo: number; stateHash: number } {
  return {
    type: 'beat',
    flags,
    senderTag: p.ref & 0xffff,
    sequence: p.sequence & 0xffff,
    echo: p.heard < 0 ? 0 : p.heard,
    stateHash: 7,
  };
}

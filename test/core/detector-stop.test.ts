/**
 * The failure detector stopped while protocol 7's mode 7 runs (FailureDetector.stop, restart): it keeps heartbeats
 * and their births (digests and deltas carry them), holds none of its own columns, and starts afresh on a fallback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureDetector } from '../../src/core/detector.js';
import { identityRef } from '../../src/core/identity.js';
import { Journal } from '../../src/core/journal.js';
import { Membership } from '../../src/core/membership.js';
import { DEAD, LIVE } from '../../src/core/peer-table.js';
import { DEFAULT_FAILURE_DETECTOR, type NodeIdentity } from '../../src/core/types.js';
import { HEARTBEAT_AGE_UNIT_MS } from '../../src/wire/messages.js';

interface Detector {
  readonly m: Membership;
  readonly fd: FailureDetector;
  admit(i: number, now: number): number;
  /** As the liveness switch has it: no revival by heartbeat while stopped. */
  stop(): void;
  restart(now: number): void;
}

function detectorAt(): Detector {
  const journal = new Journal();
  let revives = true;
  const m = new Membership(
    { journal, revivesOnHeartbeat: () => revives },
    { self: node(0), graceMs: 600_000, window: 200, expected: 16 },
  );
  const fd = new FailureDetector({ membership: m, journal }, { ...DEFAULT_FAILURE_DETECTOR, gossipIntervalMs: 1000 });
  return {
    m,
    fd,
    admit(i, now) {
      const id = node(i);
      const s = m.admit(id, identityRef(id), 10, now);
      fd.watch(s, 0, now);
      return s;
    },
    stop() {
      revives = false;
      fd.stop();
    },
    restart(now) {
      revives = true;
      fd.restart(now);
    },
  };
}

function node(i: number): NodeIdentity {
  return { id: `n${i}`, generation: 1, address: `10.0.0.${i}:9111` };
}

/** A freshly watched member's detector, `ms` after its admission with nothing heard since. */
function freshView(ms: number): unknown {
  const { fd, admit } = detectorAt();
  const s = admit(1, 1_000_000);
  return { view: fd.view(s), silence: fd.silence(s, 1_000_000 + ms) };
}

test('detector: stopped, it keeps heartbeats and births only; restarted, every live member and a revived one start as new members do', () => {
  const { m, fd, admit, stop, restart } = detectorAt();
  const t = m.table;
  const [a, b] = [admit(1, 0), admit(2, 0)];
  // A learned rhythm: beats every 900 ms, heard 300 ms late.
  let now = 0;
  for (let hb = 11; hb < 60; hb++) {
    now = (hb - 10) * 900 + 300;
    fd.observe(a, hb, 300 / HEARTBEAT_AGE_UNIT_MS, now);
    fd.observe(b, hb, 300 / HEARTBEAT_AGE_UNIT_MS, now);
  }
  assert.equal(fd.view(a).samples, 51, 'two seeds and 49 intervals');
  stop();
  assert.equal(t.hasMode6Columns, false, 'stopped: the columns only the detector reads are dropped');
  m.convict(b, 'suspected', now);
  now += 60_000;
  fd.observe(a, 70, 2, now);
  fd.observe(a, 71, 4, now, true);
  assert.deepEqual([t.heartbeat(a), t.birth(a), m.ageOf(a, now)], [71, now - 100, 2], 'heartbeat and birth move');
  const c = admit(3, now);
  assert.deepEqual([t.status[c], t.birth(c)], [LIVE, now]);
  fd.observe(b, 80, 0, now);
  assert.equal(t.status[b], DEAD, 'no revival while stopped');
  assert.equal(t.hasMode6Columns, false, 'nothing heard or admitted while stopped allocates them');

  now += 60_000;
  restart(now);
  assert.equal(t.hasMode6Columns, true);
  const fresh = freshView(2_000);
  for (const s of [a, c]) {
    assert.deepEqual({ view: fd.view(s), silence: fd.silence(s, now + 2_000) }, fresh, `slot ${s} as a new member`);
  }
  fd.sweep(now + 6_000, false);
  assert.deepEqual([t.status[a], t.status[c]], [LIVE, LIVE], 'nobody convicted for the silence mode 7 left');
  // A member dead at the restart, back by heartbeats: seeded as a new member is, not judged on an empty window.
  fd.observe(b, 90, 0, now);
  assert.equal(t.status[b], LIVE);
  assert.deepEqual({ view: fd.view(b), silence: fd.silence(b, now + 2_000) }, fresh, 'the revived member as a new one');
});

/**
 * A node whose peers all fall silent at once (here: three of them stopped) is deaf: it holds convictions back for
 * a bounded while (core/local-health.ts), and its detector's due deadlines stay due meanwhile. The runtime must
 * then look again a detector period later, not at once: re-arming its deadline timer at a deadline already past
 * spun the event loop at a timer a millisecond for the whole hold. And once the hold is over, it convicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { killAll, startCluster, waitFor } from './procs.js';

/** Times the process's main thread has gone to sleep (Linux: each timer or packet that woke it is one). */
function mainThreadSleeps(pid: number): number {
  const m = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8').match(/^voluntary_ctxt_switches:\s+(\d+)$/m);
  if (!m) throw new Error(`no voluntary_ctxt_switches for ${pid}`);
  return Number(m[1]);
}

// The fixture's detector: 200 ms rounds, acceptable pause 1 s. Deaf after two silent rounds, for at most
// 8 x (interval + pause).
const INTERVAL_MS = 200;
const MAX_DEAF_HOLD_MS = 8 * (INTERVAL_MS + 1000);

test(
  'a deaf node holds convictions without spinning, and convicts once the hold is over',
  { skip: existsSync('/proc/self/task') ? false : 'needs Linux /proc' },
  async () => {
    const procs = await startCluster(4);
    try {
      const [listener, ...others] = procs as [(typeof procs)[0], ...typeof procs];
      await waitFor(
        () => listener.events.filter((e) => e.event === 'live').length >= 3,
        10_000,
        'n0 sees the three others',
      );
      await new Promise((r) => setTimeout(r, 1000)); // heartbeats for the detector to learn from
      const stoppedAt = Date.now();
      for (const p of others) p.kill('SIGSTOP');

      // Deaf from two rounds on; measured well inside the hold.
      await new Promise((r) => setTimeout(r, 1000));
      const pid = listener.child.pid as number;
      const before = mainThreadSleeps(pid);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 3000));
      const rate = (mainThreadSleeps(pid) - before) / ((performance.now() - t0) / 1000);
      assert.ok(!listener.has((e) => e.event === 'dead'), 'nobody convicted while deaf');
      // Five rounds and twenty looks a second at most (a detector period is a quarter round), against hundreds when
      // a due deadline re-arms a timer at once.
      assert.ok(rate < 60, `a deaf node woke ${rate.toFixed(0)} times a second`);

      await waitFor(
        () => listener.events.filter((e) => e.event === 'dead' && e.reason === 'suspected').length === 3,
        MAX_DEAF_HOLD_MS + 5000,
        'n0 convicts the three stopped nodes once the hold is over',
      );
      const convictedAfter = Date.now() - stoppedAt;
      assert.ok(
        convictedAfter >= MAX_DEAF_HOLD_MS - 500 && convictedAfter <= MAX_DEAF_HOLD_MS + 2500,
        `convicted ${convictedAfter} ms after the stop (hold ${MAX_DEAF_HOLD_MS} ms)`,
      );
    } finally {
      for (const p of procs) p.kill('SIGCONT');
      killAll(procs);
    }
  },
);

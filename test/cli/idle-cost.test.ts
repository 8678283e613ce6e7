/**
 * What an idle agent costs between scrapes: its main thread should wake for gossip (a round and four
 * detects a second in protocol 6, four ticks with the round on one of them in 7, and the packets of about three
 * exchanges or four beats) and for little else. Each timer the
 * agent adds for itself (metrics samplers, monitors) is a wake-up of an otherwise sleeping process,
 * and CPU follows wake-ups: a 10 ms event-loop monitor alone added 100 a second. Counted from the
 * kernel's voluntary context switches of the main thread (Linux /proc), which count every time it
 * went to sleep, so a timer nobody sees in a JS profile is counted too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { getJson, killAll, loopbackFlags, spawnAgent, type Agent } from './agents.js';
import { waitFor } from '../runtime/procs.js';

/** Times the process's main thread has gone to sleep since it started. */
function mainThreadSleeps(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const m = status.match(/^voluntary_ctxt_switches:\s+(\d+)$/m);
  if (!m) throw new Error(`no voluntary_ctxt_switches in /proc/${pid}/task/${pid}/status`);
  return Number(m[1]);
}

/**
 * At the LAN defaults (1 s rounds) with two peers, gossip accounts for 10 to 12 wake-ups a second: a round, four
 * detects and the packets in. A 10 ms event-loop monitor adds 100, a 100 ms sampler about 8 (that one is bounded
 * exactly by the sample count in metrics.test.ts); 25 leaves room for a busy host.
 */
const MAX_WAKEUPS_PER_S = 25;
const WINDOW_MS = 6000;

test(
  'an idle agent wakes for gossip, not for its own metrics or timers',
  { skip: existsSync('/proc/self/task') ? false : 'needs Linux /proc' },
  async () => {
    const agents: Agent[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const join = i === 0 ? [] : ['--join', (agents[0] as Agent).gossip];
        agents.push(await spawnAgent(`idle${i}`, [...loopbackFlags(`idle${i}`), ...join]));
      }
      await waitFor(
        async () =>
          (await Promise.all(agents.map((a) => getJson<{ liveMembers: number }>(a.http, '/health')))).every(
            (h) => h.body.liveMembers === 3,
          ),
        15_000,
        'three agents see three',
      );
      // Past the join's extra rounds, into the steady state.
      await new Promise((r) => setTimeout(r, 3000));
      const pids = agents.map((a) => a.proc.pid as number);
      const before = pids.map(mainThreadSleeps);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const seconds = (performance.now() - t0) / 1000;
      const rates = pids.map((p, i) => (mainThreadSleeps(p) - (before[i] as number)) / seconds);
      // The median agent: one slow start or a collection in one process does not decide.
      const median = [...rates].sort((a, b) => a - b)[1] as number;
      assert.ok(
        median <= MAX_WAKEUPS_PER_S,
        `an idle agent's main thread woke ${median.toFixed(1)} times a second ` +
          `(all: ${rates.map((r) => r.toFixed(1)).join(', ')}; at most ${MAX_WAKEUPS_PER_S})`,
      );
      // And gossip did run: a round a second at least.
      assert.ok(median >= 1, `woke ${median.toFixed(1)} times a second: is the agent gossiping?`);
    } finally {
      killAll(agents);
    }
  },
);

/**
 * faults.test.ts's real-host scenarios with protocol 7's liveness: every node configured `liveness: { protocol: 7 }`,
 * and each scenario first asserts that every node runs mode 7 and at its end that none fell back, so a pass cannot
 * come from protocol 6's heartbeats. The scenarios share two beds (the 40 s of loss dominate the file's time): six
 * hosts for partition and heal, restart, crash, then loss on the five left, then one of those cut from the other
 * four; four keyed hosts for key rotation. Bounds are faults.test.ts's: the partition's 15 s already covers mode 7's
 * census (docs/design/liveness-7.md, "The partition rule": about 10 s when a side's watchers all sit across the
 * cut). The lone host's watchers all sit across, so it convicts nobody before its deafness hold ends and then by its
 * census (fault-scenarios.ts `aloneAndBack` gives the bounds). Skipped or failed as faults.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../runtime/procs.js';
import {
  aloneAndBack,
  bootBed,
  crash,
  keyRotation,
  lossWithoutFalseDeaths,
  partitionAndHeal,
  restart,
} from './fault-scenarios.js';
import { unavailable, type TestBed } from './testbed.js';

const unmet = unavailable();
const why = process.env.CI === 'true' ? null : unmet;

const beds: TestBed[] = [];
after(() => beds.forEach((b) => b.close()));

/**
 * Every node speaks 7 and opens its gate after 1 s with every live member speaking 7: long enough that the hold is
 * really waited for (0 would open it on the first round), short enough that a bed reaches mode 7 within about two
 * seconds of forming instead of the default 30.
 */
const MODE7 = { protocol: 7, gateHoldMs: 1000 };

/**
 * Waits (10 s) until each of `hosts` runs mode 7 with every live member speaking 7 and ready, then asserts it never
 * fell back: fallbacks only grow, so 0 at a scenario's end means it ran in mode 7 throughout.
 */
async function inMode7(bed: TestBed, hosts: number[]): Promise<void> {
  const status = async (i: number) => (await bed.procs[i]!.query('stats')).stats!.liveness;
  await waitFor(async () => (await Promise.all(hosts.map(status))).every((l) => l.mode === 7), 10_000, 'mode 7');
  for (const i of hosts) {
    const { protocol, mode, notSpeaking, notReady, fallbacks } = await status(i);
    assert.deepEqual(
      { protocol, mode, notSpeaking, notReady, fallbacks },
      { protocol: 7, mode: 7, notSpeaking: 0, notReady: 0, fallbacks: 0 },
      `h${i} runs protocol 7's liveness and never fell back`,
    );
  }
}

let six: Promise<TestBed> | null = null;
const sixHosts = (): Promise<TestBed> => (six ??= bootBed(beds, 6, MODE7));

test(
  'mode 7, partition into halves, then heal: each side convicts the other, then one cluster with metadata intact',
  { skip: why ?? false },
  async (t) => {
    const bed = await sixHosts();
    const all = [0, 1, 2, 3, 4, 5];
    await inMode7(bed, all);
    const { detectedMs, healedMs } = await partitionAndHeal(bed, [0, 1, 2], [3, 4, 5]);
    await inMode7(bed, all);
    t.diagnostic(`mode 7: halves convicted across in ${detectedMs} ms, whole ${healedMs} ms after the heal`);
  },
);

test(
  'mode 7, restart on a real host: a new generation, live everywhere with fresh metadata only',
  { skip: why ?? false },
  async (t) => {
    const bed = await sixHosts();
    await inMode7(bed, [0, 1, 2, 3, 4, 5]);
    const took = await restart(bed, 2, [0, 1, 3, 4, 5], MODE7);
    await inMode7(bed, [0, 1, 2, 3, 4, 5]);
    t.diagnostic(`mode 7: restarted generation live everywhere ${took} ms after ready`);
  },
);

test(
  'mode 7, crash on a real host: every other host convicts it within the expected time',
  { skip: why ?? false },
  async (t) => {
    const bed = await sixHosts();
    await inMode7(bed, [0, 1, 2, 3, 4, 5]);
    const took = await crash(bed, 5, [0, 1, 2, 3, 4]);
    await inMode7(bed, [0, 1, 2, 3, 4]);
    t.diagnostic(`mode 7: SIGKILL convicted by all in ${took} ms`);
  },
);

/** `SOAK_S` as in faults.test.ts. */
const LOSS_S = Number(process.env.SOAK_S ?? 40);

test(
  `mode 7, 10% loss on every host for ${LOSS_S} s: no false dead events`,
  { skip: why ?? false, timeout: (LOSS_S + 60) * 1000 },
  async () => {
    const bed = await sixHosts();
    const five = [0, 1, 2, 3, 4]; // h5 crashed above
    await inMode7(bed, five);
    await lossWithoutFalseDeaths(bed, five, 10, LOSS_S);
    await inMode7(bed, five);
  },
);

test(
  'mode 7, one host cut from the rest: convicted by quorum, it convicts them after its deafness hold, then heals',
  { skip: why ?? false },
  async (t) => {
    const bed = await sixHosts();
    const five = [0, 1, 2, 3, 4];
    await inMode7(bed, five);
    const { othersMs, aloneMs, healedMs } = await aloneAndBack(bed, 4, [0, 1, 2, 3]);
    await inMode7(bed, five);
    t.diagnostic(
      `mode 7: lone host convicted in ${othersMs} ms, the others by it in ${aloneMs} ms, heal ${healedMs} ms`,
    );
    bed.close();
  },
);

test(
  'mode 7, key rotation across real hosts under 10% loss: [old] -> [old, new] -> [new, old] -> [new] drops no packet',
  { skip: why ?? false },
  async () => {
    const oldKey = 'f6'.repeat(16); // AES-128
    const newKey = '17'.repeat(32); // AES-256
    const bed = await bootBed(beds, 4, { ...MODE7, keys: [oldKey] });
    await inMode7(bed, [0, 1, 2, 3]);
    await keyRotation(bed, oldKey, newKey, 3, MODE7);
    await inMode7(bed, [0, 1, 2]);
    bed.close();
  },
);

/**
 * The agent runs interpreted while idle and turns V8's optimizing compilers on once it is busy (src/cli/jit.ts);
 * a compiler flag given to node is left alone. The switch is seen in the agent's log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killAll, startAgent, type Agent } from './agents.js';

const BUSY = /optimizing compilers are on/;

/** Requests /members as fast as one client can until the agent logs the switch or `ms` pass; the requests made. */
async function hammer(a: Agent, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end && !a.stderr.some((l) => BUSY.test(l))) {
    await (await fetch(`http://${a.http}/members`)).text();
    n++;
  }
  return n;
}

test('a busy agent turns the optimizing compilers on; with a compiler flag given to node it leaves them', async () => {
  const agents: Agent[] = [];
  try {
    // 1 % of a core: a client hammering the API makes an agent use tens of percent.
    const busy = await startAgent('jit-busy', ['--optimize-above-cpu', '1']);
    agents.push(busy);
    const n = await hammer(busy, 30_000);
    const line = busy.stderr.find((l) => BUSY.test(l));
    assert.ok(line, `no switch logged after ${n} requests in 30 s: ${busy.stderr.join('\n')}`);
    const { cpuPercent } = JSON.parse(line) as { cpuPercent: number };
    assert.ok(cpuPercent >= 1, `switched at ${cpuPercent} % CPU, under the 1 % asked for`);

    // The same load with node told how to compile: the agent does not touch the flags. (Not --jitless: on
    // Node 22 it also takes WebAssembly away, and node:http's ESM facade then fails loading undici.)
    const told = await startAgent('jit-told', ['--optimize-above-cpu', '1'], {}, ['--no-turbofan']);
    agents.push(told);
    await hammer(told, 15_000);
    assert.ok(!told.stderr.some((l) => BUSY.test(l)), `switched despite --no-turbofan: ${told.stderr.join('\n')}`);
  } finally {
    killAll(agents);
  }
});

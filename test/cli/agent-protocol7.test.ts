/**
 * `scuttlebutt agent --protocol 7` (and SCUTTLEBUTT_PROTOCOL=7): agents in protocol 7's liveness form, listen for
 * streams on TCP at their gossip port (a protocol-6 agent does not), and convict a SIGKILLed agent; a wrong value
 * exits 2 saying what to give.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../runtime/procs.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = promisify(execFile);
// Below the kernel's ephemeral range (32768 and up here): a TCP listener inside it can find its port taken.
const base = 23_000 + (process.pid % 900) * 10;

interface Members {
  live: { id: string }[];
  dead: { id: string }[];
}

async function members(http: string): Promise<Members | null> {
  try {
    return JSON.parse((await run(process.execPath, [MAIN, 'members', '--json', '--http', http])).stdout) as Members;
  } catch {
    return null;
  }
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('agents with --protocol 7 form, listen for streams, convict a SIGKILL; a bad --protocol exits 2', async () => {
  const procs: ChildProcess[] = [];
  const gossip = (i: number): number => base + 2 * i;
  const http = (i: number): string => `127.0.0.1:${base + 2 * i + 1}`;
  try {
    for (let i = 0; i < 4; i++) {
      const args = ['agent', '--bind', `127.0.0.1:${gossip(i)}`, '--http', http(i), '--node-id', `p${i}`];
      args.push('--interval-ms', '200', '--log-level', 'silent');
      if (i > 0) args.push('--join', `127.0.0.1:${gossip(0)}`);
      // One agent takes the protocol from its environment; the last stays in protocol 6, alone, as a control.
      const env = i === 1 ? { ...process.env, SCUTTLEBUTT_PROTOCOL: '7' } : process.env;
      if (i === 0 || i === 2) args.push('--protocol', '7');
      if (i === 3) args.splice(args.indexOf('--join'), 2);
      procs.push(spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore', env }));
    }
    await waitFor(async () => (await members(http(2)))?.live.length === 3, 10_000, 'three protocol-7 agents live');
    await waitFor(async () => (await members(http(3))) !== null, 10_000, 'the protocol-6 agent up');
    assert.equal(await tcpOpen(gossip(0)), true, '--protocol 7: streams on TCP at the gossip port');
    assert.equal(await tcpOpen(gossip(1)), true, 'SCUTTLEBUTT_PROTOCOL=7 too');
    assert.equal(await tcpOpen(gossip(3)), false, 'protocol 6: no TCP listener');

    procs[2]!.kill('SIGKILL');
    for (const i of [0, 1])
      await waitFor(
        async () => (await members(http(i)))?.dead.some((m) => m.id === 'p2') === true,
        10_000,
        `p2 convicted at p${i}`,
      );

    const bad = await run(process.execPath, [MAIN, 'agent', '--protocol', '8']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /--protocol must be 6 \(.*\) or 7 \(.*\) \(got "8"\)/);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = promisify(execFile);
const base = 21_000 + (process.pid % 1000) * 8;

test('three agents: members --json, get, set, /metrics; bad flags exit 2 naming the flag', async () => {
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const args = ['agent', '--bind', `127.0.0.1:${base + 2 * i}`, '--http', `127.0.0.1:${base + 2 * i + 1}`, '--node-id', `a${i}`, '--interval-ms', '200', '--log-level', 'silent', '--tag', `idx=${i}`];
      if (i > 0) args.push('--join', `127.0.0.1:${base}`);
      procs.push(spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore' }));
    }
    const http = `127.0.0.1:${base + 5}`;
    let members: { live: { id: string }[] } = { live: [] };
    const deadline = Date.now() + 10_000;
    while (members.live.length < 3 && Date.now() < deadline) {
      try {
        members = JSON.parse((await run(process.execPath, [MAIN, 'members', '--json', '--http', http])).stdout) as typeof members;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(members.live.map((m) => m.id).sort(), ['a0', 'a1', 'a2']);

    await run(process.execPath, [MAIN, 'set', 'color', 'red', '--http', `127.0.0.1:${base + 1}`]);
    let got = '';
    for (let i = 0; i < 50 && got !== 'red'; i++) {
      got = (await run(process.execPath, [MAIN, 'get', 'a0', 'color', '--http', http]).catch(() => ({ stdout: '' }))).stdout.trim();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, 'red');

    const metrics = await (await fetch(`http://${http}/metrics`)).text();
    const samples = metrics.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const l of samples) assert.match(l, /^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \d+(\.\d+)?$/, l);
    assert.match(metrics, /# TYPE scuttlebutt_packets_received_total counter/);
    assert.match(metrics, /scuttlebutt_members\{status="live"\} 3/);

    const bad = await run(process.execPath, [MAIN, 'agent', '--bind', 'not-an-address']).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /--bind must be HOST:PORT/);
    const unknown = await run(process.execPath, [MAIN, 'agent', '--frobnicate']).catch((e: { code: number; stderr: string }) => e);
    assert.equal((unknown as { code: number }).code, 2);
    assert.match((unknown as { stderr: string }).stderr, /frobnicate/);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
});

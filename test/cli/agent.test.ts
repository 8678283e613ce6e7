import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../runtime/procs.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = promisify(execFile);
const base = 21_000 + (process.pid % 1000) * 8;

test('three agents: members --json, get, set, /metrics; bad flags exit 2 naming the flag', async () => {
  const procs: ChildProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const args = [
        'agent',
        '--bind',
        `127.0.0.1:${base + 2 * i}`,
        '--http',
        `127.0.0.1:${base + 2 * i + 1}`,
        '--node-id',
        `a${i}`,
        '--interval-ms',
        '200',
        '--log-level',
        'silent',
        '--tag',
        `idx=${i}`,
      ];
      if (i > 0) args.push('--join', `127.0.0.1:${base}`);
      // The last agent turns flow control off through its environment variable (the others keep the default).
      const env = i === 2 ? { ...process.env, SCUTTLEBUTT_FLOW_CONTROL: 'off' } : process.env;
      procs.push(spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore', env }));
    }
    const http = `127.0.0.1:${base + 5}`;
    let members: { live: { id: string }[] } = { live: [] };
    const deadline = Date.now() + 10_000;
    while (members.live.length < 3 && Date.now() < deadline) {
      try {
        members = JSON.parse(
          (await run(process.execPath, [MAIN, 'members', '--json', '--http', http])).stdout,
        ) as typeof members;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(members.live.map((m) => m.id).sort(), ['a0', 'a1', 'a2']);

    await run(process.execPath, [MAIN, 'set', 'color', 'red', '--http', `127.0.0.1:${base + 1}`]);
    let got = '';
    for (let i = 0; i < 50 && got !== 'red'; i++) {
      got = (
        await run(process.execPath, [MAIN, 'get', 'a0', 'color', '--http', http]).catch(() => ({ stdout: '' }))
      ).stdout.trim();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got, 'red');

    const metrics = await (await fetch(`http://${http}/metrics`)).text();
    const samples = metrics.split('\n').filter((l) => l && !l.startsWith('#'));
    // The full grammar is checked in metrics.test.ts; values include NaN and exponents (prom-client's defaults).
    for (const l of samples)
      assert.match(l, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \S+$/, l);
    assert.match(metrics, /# TYPE scuttlebutt_packets_received_total counter/);
    assert.match(metrics, /scuttlebutt_members\{status="live"\} 3/);

    const bad = await run(process.execPath, [MAIN, 'agent', '--bind', 'not-an-address']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /--bind must be HOST:PORT/);
    const flowOf = async (i: number): Promise<unknown> =>
      ((await (await fetch(`http://127.0.0.1:${base + 2 * i + 1}/stats`)).json()) as { flowControl: unknown })
        .flowControl;
    assert.equal(await flowOf(2), null, 'SCUTTLEBUTT_FLOW_CONTROL=off: no flow control');
    assert.ok(((await flowOf(0)) as { rate: number } | null)?.rate, 'flow control on by default');
    const badFlow = await run(process.execPath, [MAIN, 'agent', '--flow-control', 'maybe']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((badFlow as { code: number }).code, 2);
    assert.match((badFlow as { stderr: string }).stderr, /--flow-control must be on or off \(got "maybe"\)/);
    const local = ['agent', '--bind', '127.0.0.1:0', '--http', '127.0.0.1:0'];
    const badBytes = await run(process.execPath, [MAIN, ...local, '--event-buffer-bytes', '100']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((badBytes as { code: number }).code, 2);
    assert.match(
      (badBytes as { stderr: string }).stderr,
      /--event-buffer-bytes must be an integer >= 1024 \(got "100"\)/,
    );
    const badBytesEnv = await run(process.execPath, [MAIN, ...local], {
      env: { ...process.env, SCUTTLEBUTT_EVENT_BUFFER_BYTES: '1MB' },
    }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((badBytesEnv as { code: number }).code, 2);
    assert.match(
      (badBytesEnv as { stderr: string }).stderr,
      /--event-buffer-bytes must be an integer >= 1024 \(got "1MB"\)/,
    );
    const unknown = await run(process.execPath, [MAIN, 'agent', '--frobnicate']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((unknown as { code: number }).code, 2);
    assert.match((unknown as { stderr: string }).stderr, /frobnicate/);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
});

test('SIGHUP re-reads --key-file: a three-step rotation drops no packet, and a broken file keeps the old keyring', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-keys-'));
  const oldKey = 'e5'.repeat(16);
  const newKey = Buffer.alloc(32, 7).toString('base64');
  const procs: ChildProcess[] = [];
  const port = base + 6 * 2 + 100;
  const http = (i: number): string => `127.0.0.1:${port + 2 * i + 1}`;
  const stats = async (i: number): Promise<{ liveMembers: number; dropped: Record<string, number> }> =>
    (await (await fetch(`http://${http(i)}/stats`)).json()) as { liveMembers: number; dropped: Record<string, number> };
  /** Each agent's log (info: its keyring reloads are logged), read as it comes. */
  const logs = ['', '', ''];
  const reloads = (i: number): number => (logs[i]!.match(/keyring (reloaded from|not reloaded)/g) ?? []).length;
  let step = 0;
  const hupAll = async (ring: string[]): Promise<void> => {
    step++;
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(dir, `k${i}`), `${ring.join('\n')}\n`);
      const before = reloads(i);
      procs[i]!.kill('SIGHUP');
      await waitFor(() => reloads(i) > before, 5_000, `k${i} read its key file again`);
      await new Promise((r) => setTimeout(r, 300)); // rolling: gossip goes on between agents
    }
    // Gossip under the new rings: a write on one agent reaches the other two.
    const writer = step % 3;
    const put = await fetch(`http://${http(writer)}/kv/step`, { method: 'PUT', body: String(step) });
    assert.equal(put.status, 200);
    const seen = async (i: number): Promise<boolean> => {
      const view = (await (await fetch(`http://${http(i)}/members`)).json()) as {
        self: { id: string; metadata: Record<string, string> };
        live: { id: string; metadata: Record<string, string> }[];
      };
      return [view.self, ...view.live].some((m) => m.id === `k${writer}` && m.metadata['step'] === String(step));
    };
    await waitFor(
      async () => (await Promise.all([0, 1, 2].map(seen))).every(Boolean),
      10_000,
      `step ${step}: k${writer}'s write seen by every agent`,
    );
  };
  try {
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(dir, `k${i}`), `${oldKey}\n`);
      const args = [
        'agent',
        '--bind',
        `127.0.0.1:${port + 2 * i}`,
        '--http',
        http(i),
        '--node-id',
        `k${i}`,
        '--interval-ms',
        '200',
        '--log-level',
        'info',
        '--key-file',
        join(dir, `k${i}`),
      ];
      if (i > 0) args.push('--join', `127.0.0.1:${port}`);
      const proc = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      proc.stderr!.on('data', (d: Buffer) => (logs[i] += d.toString()));
      procs.push(proc);
    }
    const allLive = async (): Promise<boolean> =>
      (await Promise.all([0, 1, 2].map((i) => stats(i).catch(() => ({ liveMembers: 0 }))))).every(
        (s) => s.liveMembers === 3,
      );
    await waitFor(allLive, 10_000, 'three agents see three');

    await hupAll([oldKey, newKey]);
    await hupAll([newKey, oldKey]);
    await hupAll([newKey]);
    await hupAll(['not a key']); // refused: the agents keep [newKey]
    for (let i = 0; i < 3; i++) {
      const s = await stats(i);
      assert.equal(s.liveMembers, 3, `k${i} still sees all`);
      assert.equal(s.dropped['envelope:decrypt-failed'] ?? 0, 0, `k${i}: ${JSON.stringify(s.dropped)}`);
    }
    // The old key is gone for real: an agent holding only it is refused, and counted.
    writeFileSync(join(dir, 'k3'), `${oldKey}\n`);
    procs.push(
      spawn(
        process.execPath,
        [
          MAIN,
          'agent',
          '--bind',
          `127.0.0.1:${port + 6}`,
          '--http',
          http(3),
          '--node-id',
          'k3',
          '--interval-ms',
          '200',
          '--log-level',
          'silent',
          '--key-file',
          join(dir, 'k3'),
          '--join',
          `127.0.0.1:${port}`,
        ],
        { stdio: 'ignore' },
      ),
    );
    await waitFor(
      async () => ((await stats(0)).dropped['envelope:decrypt-failed'] ?? 0) > 0,
      5_000,
      'the old-key agent refused',
    );
    assert.equal((await stats(0)).liveMembers, 3);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

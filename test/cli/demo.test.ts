/**
 * `npm start`. Off a terminal (a pipe, CI) or with `--once`: the whole story, then every agent shut down and
 * exit 0 by itself. On a terminal (a pseudo-terminal from util-linux `script`) or with `--stay-up`: the
 * same story, then the cluster stays up with its dashboard answering until Ctrl-C, which every agent leaves
 * gracefully before the demo exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const DEMO = fileURLToPath(new URL('../../src/cli/demo.js', import.meta.url));
const run = promisify(execFile);
const AGENTS = 5;
/** A separate range of 2 × AGENTS ports for each test, and for each concurrent run of this file. */
const basePort = (k: number): number => 26_000 + ((process.pid % 125) * 4 + k) * 12;

/** util-linux `script` runs a command on a pseudo-terminal: the demo then sees a TTY, as under a person. */
const hasScript = ((): boolean => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const NO_SCRIPT = hasScript ? false : 'needs util-linux `script` for a pseudo-terminal';

/**
 * `exec`: `script` runs the command through $SHELL, and dash (Debian's /bin/sh) stays as the demo's parent
 * in the terminal's process group; a Ctrl-C would kill that shell, and `script -e` would report its 130.
 */
function onTerminal(args: string[]): ChildProcess {
  const cmd = ['exec', ...[process.execPath, DEMO, ...args].map((a) => `'${a}'`)].join(' ');
  return spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** Collects a child's stdout; `waitFor` resolves once it matches, or fails after `ms`. */
function watch(child: ChildProcess): {
  text: () => string;
  waitFor: (re: RegExp, ms: number) => Promise<void>;
  exit: Promise<number | null>;
} {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (re: RegExp, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no ${re} within ${ms} ms in:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { text: () => out, waitFor, exit };
}

/**
 * After a failed test: the demo's own shutdown first (its agents would outlive a SIGKILL of it), by a
 * signal or, on a terminal, a Ctrl-C; a SIGKILL if it has not exited within 5 s.
 */
async function cleanUp(child: ChildProcess, exit: Promise<unknown>, terminal: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (terminal) child.stdin?.write('\u0003');
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exit;
  clearTimeout(timer);
}

/** Status of GET url, or the error's code when nothing answers. */
async function probe(url: string): Promise<number | string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name) as string;
  }
}

/** Every agent's HTTP API refuses connections: no agent outlived the demo. */
async function assertAgentsGone(base: number): Promise<void> {
  for (let i = 0; i < AGENTS; i++)
    assert.equal(await probe(`http://127.0.0.1:${base + 2 * i + 1}/health`), 'ECONNREFUSED', `node-${i + 1} is gone`);
}

test('the demo, piped: plain timestamped lines, the dashboard URL, join, tag, SIGKILL, conviction, restart, exit 0', async () => {
  const base = basePort(0);
  const started = Date.now();
  const { stdout } = await run(process.execPath, [DEMO, '--base-port', String(base)], { timeout: 40_000 });
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds < 20, `took ${seconds} s`);
  assert.ok(!stdout.includes('\u001b'), 'no ANSI escapes when stdout is not a terminal');
  const lines = stdout.trimEnd().split('\n');
  for (const l of lines) assert.match(l, /^\[ *\d+\.\ds\] +\S/, l);
  assert.ok(lines[0]?.endsWith(`dashboard: http://127.0.0.1:${base + 1}/ui`), lines[0]);
  const order = [
    /all 5 agents see all 5 as live/,
    /node-2 +live .*zone=z1 color=green/,
    /node-2's color=green reached every agent/,
    /SIGKILL node-5/,
    /node-5 +dead +other agents: 0 of 4 see it live, 4 dead/,
    /every agent declared node-5 dead [\d.]+ s after the kill/,
    /node-5 +live +other agents: 4 of 4 see it live, 0 dead .*zone=restarted/,
    /node-5 is live again everywhere, generation …\d+ \(was …\d+\)/,
    /^\[ *[\d.]+s\] done\./,
  ];
  let at = 0;
  for (const re of order) {
    const i = lines.findIndex((l, j) => j >= at && re.test(l));
    assert.ok(i >= 0, `${re} after line ${at} in:\n${stdout}`);
    at = i + 1;
  }
  assert.ok(!stdout.includes('Ctrl-C'), 'off a terminal the demo does not stay up');
  await assertAgentsGone(base);
});

test('the demo with --stay-up, piped: after the story the dashboard still answers; SIGINT stops every agent, exit 0', async () => {
  const base = basePort(1);
  const demo = spawn(process.execPath, [DEMO, '--base-port', String(base), '--stay-up'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out = watch(demo);
  try {
    const dashboard = `http://127.0.0.1:${base + 1}/ui`;
    await out.waitFor(
      new RegExp(
        `node-5 is live again everywhere[^\\n]*\\n\\[ *[\\d.]+s\\] cluster is up; dashboard at ${dashboard}; Ctrl-C to stop\\n`,
      ),
      40_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(demo.exitCode, null, 'still running after the story');
    assert.equal(await probe(dashboard), 200, 'the dashboard answers');
    demo.kill('SIGINT');
    assert.equal(await out.exit, 0);
    assert.match(out.text(), /Ctrl-C: every agent leaves gracefully\n\[ *[\d.]+s\] stopped\./);
    assert.ok(!/\bdone\./.test(out.text()), 'no run-and-exit ending');
    await assertAgentsGone(base);
  } finally {
    await cleanUp(demo, out.exit, false);
  }
});

test(
  'the demo on a terminal stays up with its table and dashboard until Ctrl-C, then exits 0',
  { skip: NO_SCRIPT },
  async () => {
    const base = basePort(2);
    const demo = onTerminal(['--base-port', String(base)]);
    const out = watch(demo);
    try {
      await out.waitFor(/cluster is up; dashboard at \S+; Ctrl-C to stop/, 45_000);
      assert.ok(out.text().includes('\u001b[H'), 'the table is drawn in place');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(demo.exitCode, null, 'still running after the story');
      assert.equal(await probe(`http://127.0.0.1:${base + 1}/ui`), 200, 'the dashboard answers');
      demo.stdin?.write('\u0003'); // Ctrl-C, as the terminal sends it: SIGINT to the demo and its agents
      assert.equal(await out.exit, 0);
      assert.match(out.text(), /Ctrl-C: every agent leaves gracefully/);
      assert.match(out.text(), /stopped\./);
      await assertAgentsGone(base);
    } finally {
      await cleanUp(demo, out.exit, true);
    }
  },
);

test('the demo with --once on a terminal runs the story and exits 0 by itself', { skip: NO_SCRIPT }, async () => {
  const base = basePort(3);
  const demo = onTerminal(['--base-port', String(base), '--once']);
  const out = watch(demo);
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((r) => (timer = setTimeout(() => r('still running after 45 s'), 45_000)));
    const code = await Promise.race([out.exit, late]);
    clearTimeout(timer);
    assert.equal(code, 0, out.text());
    assert.match(out.text(), /node-5 is live again everywhere/);
    assert.match(out.text(), /done\. Try it yourself/);
    assert.ok(!out.text().includes('Ctrl-C to stop'), 'it did not stay up');
    await assertAgentsGone(base);
  } finally {
    await cleanUp(demo, out.exit, true);
  }
});

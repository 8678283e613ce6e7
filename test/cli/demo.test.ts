/** `npm start` off a terminal: the whole story as plain lines, no escape codes, over by itself within 20 s. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const DEMO = fileURLToPath(new URL('../../src/cli/demo.js', import.meta.url));
const run = promisify(execFile);

test('the demo, piped: plain timestamped lines, the dashboard URL, join, tag, SIGKILL, conviction, restart, exit 0', async () => {
  const base = 26_000 + (process.pid % 500) * 12;
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
});

/**
 * The agent's discovery flags: a malformed seed or DNS server exits 2 saying what to write; a seed that does not
 * resolve leaves the agent running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts, waitFor } from '../runtime/procs.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = promisify(execFile);

test('agent --join / --dns-server: bad values exit 2 with what to write; a seed that does not resolve is logged and the agent runs on', async () => {
  const bad: [string[], RegExp][] = [
    [['--join', 'srv+_gossip._udp.sb.default.svc.cluster.local:9111'], /--join: bad seed .*write it without ":9111"/],
    [
      ['--join', '10.0.0.1:9111,fd00::1:9111'],
      /--join: bad seed "fd00::1:9111": an IPv6 address goes in brackets, the port after them: "\[fd00::1\]:9111"/,
    ],
    [['--join', 'sb.default'], /--join: bad seed "sb\.default": the port is missing/],
    [['--dns-server', 'dns.google'], /--dns-server must be an IP address.*a name would need DNS to find DNS/],
  ];
  for (const [args, why] of bad) {
    await assert.rejects(
      run(process.execPath, [MAIN, 'agent', '--bind', '127.0.0.1:0', ...args]),
      (e: { code?: number; stderr?: string }) => e.code === 2 && why.test(e.stderr ?? ''),
      args.join(' '),
    );
  }

  const [port, http] = freePorts(2) as [number, number];
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'agent',
      '--bind',
      `127.0.0.1:${port}`,
      '--http',
      `127.0.0.1:${http}`,
      '--interval-ms',
      '100',
      '--join',
      'nohost.invalid:9111',
      '--dns-server',
      '127.0.0.1:1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
  try {
    // No DNS server listens on 127.0.0.1:1: the join fails, is logged, and the agent serves its API all the same.
    await waitFor(() => lines.some((l) => l.includes('seed did not resolve')), 15_000, 'a warning about the seed');
    await waitFor(() => lines.some((l) => l.includes('gossiping on')), 5000, 'the agent is up');
    const members = JSON.parse(
      (await run(process.execPath, [MAIN, 'members', '--json', '--http', `127.0.0.1:${http}`])).stdout,
    ) as { live: unknown[] };
    assert.equal(members.live.length, 1);
    assert.equal(child.exitCode, null, 'still running');
    assert.equal(lines.filter((l) => l.includes('seed did not resolve')).length, 1, lines.join('\n'));
    assert.match(
      lines.find((l) => l.includes('seed did not resolve'))!,
      /nohost\.invalid/,
    );
  } finally {
    child.kill('SIGKILL');
  }
});

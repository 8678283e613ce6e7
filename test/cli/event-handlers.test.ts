/**
 * `agent --event-handler` with real agents: scripts run on member-join and member-failed with the documented
 * environment and stdin; a failing one is logged with its exit code and stderr; a hanging one is killed (its
 * process group too) at --event-handler-timeout while gossip and the HTTP API go on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { killAll, liveIds, MAIN, startAgent, waitFor, type Agent } from './agents.js';
import { createScuttlebutt } from '../../src/runtime/scuttlebutt.js';
import { readSnapshot } from '../../src/cli/snapshot.js';

const run = promisify(execFile);

/** One record per run: the SCUTTLEBUTT_ variables, then stdin. */
interface Run {
  readonly env: Record<string, string>;
  readonly stdin: string;
}

/** A handler script that records each run in its own file under `dir`. */
function recorder(dir: string): string {
  const script = join(dir, 'record.sh');
  writeFileSync(
    script,
    `#!/bin/sh
f=$(mktemp "${dir}/run.XXXXXX")
env | grep '^SCUTTLEBUTT_' | sort > "$f.env"
cat > "$f.in"
mv "$f.env" "$f.done"
`,
  );
  chmodSync(script, 0o755);
  return script;
}

function runs(dir: string): Run[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.done'))
    .map((f) => {
      const env = Object.fromEntries(
        readFileSync(join(dir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      return { env, stdin: readFileSync(join(dir, f.replace(/\.done$/, '.in')), 'utf8') };
    });
}

test('handlers run on member-join and member-failed with the documented environment and stdin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-handlers-'));
  const agents: Agent[] = [];
  try {
    const script = recorder(dir);
    const a = await startAgent('ha', [
      '--tag',
      'role=web',
      '--tag',
      'dc.zone=z1',
      '--event-handler',
      `member-join,member-failed=${script}`,
      '--event-handler',
      'member-leave=echo wrong >&2; exit 9',
      '--event-handler',
      'member-update=echo "update went wrong" >&2; exit 3',
    ]);
    agents.push(a);
    const b = await startAgent('hb', ['--join', a.gossip]);
    agents.push(b);
    await waitFor(() => runs(dir).some((r) => r.env.SCUTTLEBUTT_EVENT === 'member-join'), 10_000, 'member-join run');
    const join0 = runs(dir).find((r) => r.env.SCUTTLEBUTT_EVENT === 'member-join') as Run;
    assert.equal(join0.env.SCUTTLEBUTT_SELF_NAME, 'ha');
    assert.equal(join0.env.SCUTTLEBUTT_SELF_ADDRESS, a.gossip);
    assert.equal(join0.env.SCUTTLEBUTT_TAG_ROLE, 'web');
    assert.equal(join0.env.SCUTTLEBUTT_TAG_DC_ZONE, 'z1');
    assert.equal(join0.env.SCUTTLEBUTT_HTTP, a.http, 'scuttlebutt commands in a handler reach its agent');
    assert.equal(join0.stdin, `hb\t${b.gossip}\tlive\t\n`);

    // A failing handler is logged with its exit code and the end of its stderr.
    await run(process.execPath, [MAIN, 'set', 'color', 'red', '--http', b.http]);
    await waitFor(
      () => a.stderr.some((l) => /event handler for member-update failed \(exit code 3\)/.test(l)),
      10_000,
      'the failed member-update handler logged',
    );
    const failed = JSON.parse(a.stderr.find((l) => /member-update failed/.test(l)) as string) as {
      exitCode: number;
      stderr: string;
    };
    assert.equal(failed.exitCode, 3);
    assert.equal(failed.stderr, 'update went wrong\n');

    b.proc.kill('SIGKILL');
    await waitFor(() => runs(dir).some((r) => r.env.SCUTTLEBUTT_EVENT === 'member-failed'), 15_000, 'member-failed');
    const failedRun = runs(dir).find((r) => r.env.SCUTTLEBUTT_EVENT === 'member-failed') as Run;
    assert.equal(failedRun.stdin, `hb\t${b.gossip}\tdead\tcolor=red\n`);
    assert.equal(failedRun.env.SCUTTLEBUTT_SELF_NAME, 'ha');
    // A crash is a failure, not a leave: the member-leave handler never ran.
    assert.ok(!a.stderr.some((l) => /member-leave/.test(l)), 'no member-leave handler run');

    const metrics = await (await fetch(`http://${a.http}/metrics`)).text();
    assert.match(metrics, /scuttlebutt_event_handler_runs_total\{type="member-join",outcome="ok"\} 1\b/);
    assert.match(metrics, /scuttlebutt_event_handler_runs_total\{type="member-failed",outcome="ok"\} 1\b/);
    assert.match(metrics, /scuttlebutt_event_handler_runs_total\{type="member-update",outcome="failed"\} [1-9]/);
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hanging handler is killed with its process group at the timeout; gossip and the API go on meanwhile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-handlers-'));
  const agents: Agent[] = [];
  try {
    const pidFile = join(dir, 'pid');
    const a = await startAgent('ta', [
      '--event-handler',
      // Only the first run hangs; the next one records its stdin, and no sleep outlives the test.
      `member-join=mkdir ${join(dir, 'once')} 2>/dev/null || { cat >> ${join(dir, 'next.in')}; exit 0; }; ` +
        `echo $$ > ${pidFile}; sleep 60; echo never`,
      '--event-handler-timeout',
      '6s',
    ]);
    agents.push(a);
    agents.push(await startAgent('tb', ['--join', a.gossip]));
    await waitFor(() => readdirSync(dir).includes('pid'), 10_000, 'the hanging handler started');
    const started = Date.now();
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // While it hangs, two more agents join and all sides see them; the API answers at once.
    const [c, d] = await Promise.all([startAgent('tc', ['--join', a.gossip]), startAgent('td', ['--join', a.gossip])]);
    agents.push(c, d);
    await waitFor(async () => (await liveIds(a.http)).length === 4, 10_000, 'tc and td join while the handler hangs');
    await waitFor(async () => (await liveIds(c.http)).length === 4, 10_000, 'tc sees everyone');
    assert.ok(
      Date.now() - started < 6000,
      'the joins completed before the timeout, so they did not wait for the handler',
    );
    await waitFor(
      () => a.stderr.some((l) => /event handler for member-join killed after 6000 ms/.test(l)),
      10_000,
      'the timeout logged',
    );
    // The shell and the sleep it started are gone: no process is left in the group.
    await waitFor(
      () => {
        try {
          process.kill(-pid, 0);
          return false;
        } catch (err) {
          return (err as NodeJS.ErrnoException).code === 'ESRCH';
        }
      },
      2000,
      'no process left in the handler group',
    );
    // The two joins that came while it hung wait as one run, both members on its stdin.
    await waitFor(() => readdirSync(dir).includes('next.in'), 5000, 'the next run');
    await new Promise((r) => setTimeout(r, 300));
    const lines = readFileSync(join(dir, 'next.in'), 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split('\t')[0]).sort(), ['tc', 'td']);
    const metrics = await (await fetch(`http://${a.http}/metrics`)).text();
    assert.match(metrics, /scuttlebutt_event_handler_runs_total\{type="member-join",outcome="timeout"\} 1\b/);
    assert.match(metrics, /scuttlebutt_event_handler_runs_total\{type="member-join",outcome="ok"\} 1\b/);
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a user-event handler runs for its name with the payload on stdin; the Lamport clocks survive a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-handlers-'));
  const agents: Agent[] = [];
  const snapshot = join(dir, 'snapshot.json');
  const lib = await createScuttlebutt({
    listenAddress: '127.0.0.1:0',
    node: { id: 'lib', gossipPublicAddress: '127.0.0.1:0' },
    gossipIntervalMs: 200,
  });
  try {
    const script = recorder(dir);
    const a = await startAgent('ua', ['--event-handler', `user:deploy=${script}`, '--snapshot', snapshot]);
    agents.push(a);
    await lib.join([a.gossip]);
    await waitFor(async () => (await liveIds(a.http)).join() === 'lib,ua', 10_000, 'lib joins ua');
    lib.broadcast('other', 'not for the handler');
    const sent = lib.broadcast('deploy', 'v42\n', { coalesce: false });
    await waitFor(() => runs(dir).length > 0, 10_000, 'the deploy handler ran');
    await new Promise((r) => setTimeout(r, 500)); // the "other" event, had it run the handler, would show now
    const [deploy, ...more] = runs(dir);
    assert.equal(more.length, 0, 'only the event named deploy runs the handler');
    assert.equal(deploy?.env.SCUTTLEBUTT_EVENT, 'user');
    assert.equal(deploy?.env.SCUTTLEBUTT_USER_EVENT, 'deploy');
    assert.equal(deploy?.env.SCUTTLEBUTT_USER_LTIME, String(sent.ltime));
    assert.equal(deploy?.env.SCUTTLEBUTT_USER_ORIGIN, 'lib');
    assert.equal(deploy?.stdin, 'v42\n');

    // A query moves the agent's query clock too.
    await lib.query('ping', '', { filter: { ids: ['ua'] }, timeoutMs: 500 }).summary;
    const queryTime = lib.lamportClocks().query;
    assert.ok(queryTime >= 1);
    // The snapshot holds both clocks; restarted alone (its only peer gone), the agent starts from them.
    await waitFor(
      () => {
        const r = readSnapshot(snapshot);
        return r.ok && r.snapshot.lamportClocks.event >= sent.ltime && r.snapshot.lamportClocks.query >= queryTime;
      },
      5000,
      'the event clock in the snapshot',
    );
    await lib.shutdown({ leave: true });
    a.proc.kill('SIGKILL');
    await a.exited;
    writeFileSync(snapshot, readFileSync(snapshot, 'utf8').replace(/"members": \[[^\]]*\]/, '"members": []'));
    const before = Date.now();
    const again = await startAgent('ua', ['--snapshot', snapshot]);
    agents.push(again);
    await waitFor(
      () => {
        const r = readSnapshot(snapshot);
        return r.ok && r.snapshot.written >= before;
      },
      5000,
      'the restarted agent rewrote its snapshot',
    );
    const r = readSnapshot(snapshot);
    assert.ok(
      r.ok && r.snapshot.lamportClocks.event >= sent.ltime && r.snapshot.lamportClocks.query >= queryTime,
      JSON.stringify(r),
    );
  } finally {
    await lib.shutdown({ leave: false });
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('agent --event-handler: a wrong filter or timeout exits 2 saying what to write', async () => {
  for (const [args, why] of [
    [['--event-handler', 'member-joined=./x.sh'], /unknown event type "member-joined"/],
    [['--event-handler-timeout', 'forever'], /--event-handler-timeout must be a duration/],
  ] as const) {
    await assert.rejects(
      run(process.execPath, [MAIN, 'agent', '--bind', '127.0.0.1:0', ...args]),
      (e: { code?: number; stderr?: string }) => e.code === 2 && why.test(e.stderr ?? ''),
      args.join(' '),
    );
  }
});

test('query handlers: stdout is the response; a failing or over-long one is an error answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-handlers-'));
  const agents: Agent[] = [];
  const lib = await createScuttlebutt({
    listenAddress: '127.0.0.1:0',
    node: { id: 'qlib', gossipPublicAddress: '127.0.0.1:0' },
    gossipIntervalMs: 200,
  });
  try {
    const a = await startAgent('qa', [
      '--tag',
      'role=db',
      '--event-handler',
      'query:load=printf "%s load of %s on $SCUTTLEBUTT_SELF_NAME ($SCUTTLEBUTT_QUERY_NAME)" "$(cat)" "$SCUTTLEBUTT_QUERY_ORIGIN"',
      '--event-handler',
      'query:broken=echo "disk on fire" >&2; exit 4',
      '--event-handler',
      'query:big=head -c 2000 /dev/zero',
    ]);
    agents.push(a);
    await lib.join([a.gossip]);
    await waitFor(async () => (await liveIds(a.http)).join() === 'qa,qlib', 10_000, 'qlib joins qa');
    const ask = async (name: string): Promise<{ kind: string; payload?: Uint8Array; message?: string }[]> => {
      const out: { kind: string; payload?: Uint8Array; message?: string }[] = [];
      const answers = lib.query(name, 'mean', { filter: { ids: ['qa'] }, timeoutMs: 3000 });
      for await (const answer of answers) if (answer.from === 'qa' && answer.kind !== 'ack') out.push(answer);
      return out;
    };
    const [load, broken, big] = await Promise.all([ask('load'), ask('broken'), ask('big')]);
    assert.equal(load.length, 1);
    assert.equal(load[0]?.kind, 'response');
    assert.equal(Buffer.from(load[0]?.payload ?? []).toString(), 'mean load of qlib on qa (load)');
    assert.equal(broken[0]?.kind, 'error', JSON.stringify(broken));
    assert.match(String(broken[0]?.message), /failed/);
    assert.equal(big[0]?.kind, 'error', JSON.stringify(big));
    assert.match(String(big[0]?.message), /over 1024 bytes/);
    assert.ok(a.stderr.some((l) => /event handler for query failed \(exit code 4\).*disk on fire/.test(l)));
  } finally {
    await lib.shutdown({ leave: false });
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

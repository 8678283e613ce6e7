import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  EventStream,
  getJson,
  killAll,
  liveIds,
  MAIN,
  postJson,
  startAgent,
  waitFor,
  type Agent,
  type MemberJson,
} from './agents.js';

const run = promisify(execFile);
type Failed = { code: number; stdout: string; stderr: string };
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> =>
  run(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: Failed) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('HTTP API over three real agents: probes, filters, SSE with resume and gaps, join, leave, force-leave of a SIGKILLed member', async () => {
  const agents: Agent[] = [];
  const streams: EventStream[] = [];
  try {
    const a0 = await startAgent('a0', [
      '--tag',
      'idx=0',
      '--tag',
      'role=db',
      '--event-buffer',
      '6',
      '--sse-heartbeat-ms',
      '200',
    ]);
    agents.push(a0);
    // Alone by configuration (no seeds): ready at once.
    assert.equal((await getJson(a0.http, '/ready')).status, 200);
    const all = new EventStream(a0.http);
    streams.push(all);
    assert.equal(await all.status, 200);
    for (let i = 1; i < 3; i++)
      agents.push(
        await startAgent(`a${i}`, [
          '--join',
          a0.gossip,
          '--tag',
          `idx=${i}`,
          '--tag',
          `role=${i === 1 ? 'db' : 'web'}`,
        ]),
      );
    const [, a1, a2] = agents as [Agent, Agent, Agent];
    for (const a of agents)
      await waitFor(async () => (await liveIds(a.http)).length === 3, 10_000, `${a.id} sees three`);

    // /health and /ready: 200 with a JSON body.
    for (const a of agents) {
      const h = await getJson(a.http, '/health');
      assert.equal(h.status, 200);
      assert.equal(h.body.status, 'ok');
      const r = await getJson(a.http, '/ready');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.liveMembers, 3);
    }

    // /members filters.
    const members = async (q: string): Promise<string[]> => {
      const { status, body } = await getJson<{ live: MemberJson[]; dead: MemberJson[] }>(a0.http, `/members${q}`);
      assert.equal(status, 200, q);
      return [...body.live, ...body.dead].map((m) => m.id).sort();
    };
    assert.deepEqual(await members(''), ['a0', 'a1', 'a2']);
    assert.deepEqual(await members('?status=live'), ['a0', 'a1', 'a2']);
    assert.deepEqual(await members('?status=dead'), []);
    assert.deepEqual(await members('?tag=role=db'), ['a0', 'a1']);
    assert.deepEqual(await members('?tag=role=db&tag=idx=1'), ['a1']);
    assert.deepEqual(await members('?tag=role%3Dweb'), ['a2']);
    assert.deepEqual(await members('?tag=role=nope'), []);
    for (const [q, name] of [
      ['?status=zombie', 'status'],
      ['?tag=novalue', 'tag'],
      ['?tag==x', 'tag'],
      ['?colour=red', 'colour'],
    ] as const) {
      const r = await getJson<{ error: string }>(a0.http, `/members${q}`);
      assert.equal(r.status, 400, q);
      assert.match(r.body.error, new RegExp(`"${name}"`), r.body.error);
    }
    // The detector's view of each live peer: silence against its allowance.
    const view = (await getJson<{ live: MemberJson[] }>(a0.http, '/members?status=live')).body.live.find(
      (m) => m.id === 'a1',
    )!;
    assert.ok(
      view.silence && view.silence.silentForMs >= 0 && view.silence.convictAfterMs > view.silence.silentForMs,
      JSON.stringify(view),
    );
    const cliMembers = await cli(['members', '--http', a0.http, '--tag', 'role=web']);
    assert.equal(cliMembers.code, 0, cliMembers.stderr);
    assert.match(cliMembers.stdout, /a2 .*live/);
    assert.doesNotMatch(cliMembers.stdout, /a1/);

    // SSE: the joins arrived as live and update events, with ids and the member's state.
    await waitFor(() => all.events.filter((e) => e.event === 'live').length >= 2, 5_000, 'two live events');
    const firstLive = all.events.find((e) => e.event === 'live')!;
    assert.match(firstLive.id ?? '', /^\d+-\d+$/);
    assert.equal((firstLive.data.node as MemberJson).status, 'live');
    assert.ok(all.comments.some((c) => c.startsWith(': scuttlebutt a0 events')));
    await waitFor(() => all.comments.some((c) => c.startsWith(': heartbeat')), 2_000, 'a heartbeat comment');

    // An update carries the metadata as of the event.
    assert.equal((await cli(['set', 'color', 'red', '--http', a1.http])).code, 0);
    await waitFor(
      () => all.events.some((e) => e.event === 'update' && (e.data.node as MemberJson).metadata.color === 'red'),
      5_000,
      'the update',
    );
    const upd = all.events.find((e) => e.event === 'update' && (e.data.node as MemberJson).metadata.color === 'red')!;
    assert.deepEqual(upd.data.keys, ['color']);
    // More events than the 6-event buffer holds, one at a time.
    for (const shade of ['pink', 'teal', 'gold']) {
      assert.equal((await cli(['set', 'color', shade, '--http', a1.http])).code, 0);
      await waitFor(
        () => all.events.some((e) => e.event === 'update' && (e.data.node as MemberJson).metadata.color === shade),
        5_000,
        shade,
      );
    }

    // Resume: Last-Event-ID replays exactly what came after it.
    const ids = all.events.map((e) => e.id!);
    const from = ids[ids.length - 3]!;
    const resumed = new EventStream(a0.http, '/events', { 'last-event-id': from });
    streams.push(resumed);
    await waitFor(() => resumed.events.length >= 2, 3_000, 'replayed events');
    assert.deepEqual(
      resumed.events.map((e) => e.id),
      ids.slice(-2),
    );
    // An id that has left the 6-event buffer: a gap signal first, then what the buffer holds.
    const [epoch] = from.split('-');
    const stale = new EventStream(a0.http, `/events?lastEventId=${epoch}-1`);
    streams.push(stale);
    await waitFor(() => stale.events.length >= 1, 3_000, 'gap');
    assert.equal(stale.events[0]!.event, 'gap');
    assert.equal(stale.events[0]!.data.reason, 'expired');
    assert.ok((stale.events[0]!.data.missed as number) >= 1);
    const other = new EventStream(a0.http, '/events', { 'last-event-id': '12-3' });
    streams.push(other);
    await waitFor(() => other.events.length >= 1, 3_000, 'restart gap');
    assert.equal(other.events[0]!.data.reason, 'restarted');
    assert.equal((await getJson(a0.http, '/events?since=yesterday')).status, 400);

    // SIGKILL a2: every stream sees it dead, with its state as of that moment.
    a2.proc.kill('SIGKILL');
    await waitFor(
      () => all.events.some((e) => e.event === 'dead' && (e.data.node as MemberJson).id === 'a2'),
      15_000,
      'a2 dead on the stream',
    );
    const dead = all.events.find((e) => e.event === 'dead' && (e.data.node as MemberJson).id === 'a2')!;
    assert.equal(dead.data.reason, 'suspected');
    assert.equal((dead.data.node as MemberJson).status, 'dead');
    assert.equal((dead.data.node as MemberJson).metadata.role, 'web');
    await waitFor(async () => (await members('?status=dead')).includes('a2'), 5_000, 'a2 listed dead');
    await waitFor(
      async () =>
        (await getJson<{ dead: MemberJson[] }>(a1.http, '/members?status=dead')).body.dead.some((m) => m.id === 'a2'),
      10_000,
      'a1 sees a2 dead',
    );

    // force-leave: a live member is refused (409), an unknown one is 404, a dead one is removed now.
    const refused = await postJson<{ error: string }>(a0.http, '/force-leave', { node: 'a1' });
    assert.equal(refused.status, 409);
    assert.match(refused.body.error, /live/);
    assert.equal((await postJson(a0.http, '/force-leave', { node: 'nobody' })).status, 404);
    assert.equal((await postJson(a0.http, '/force-leave', { nod: 'a2' })).status, 400);
    const fl = await cli(['force-leave', 'a2', '--http', a0.http]);
    assert.equal(fl.code, 0, fl.stderr);
    assert.deepEqual(await members(''), ['a0', 'a1'], 'a2 removed from a0 at once, not after the 60 s grace period');
    await waitFor(
      () => all.events.some((e) => e.event === 'removed' && (e.data.node as MemberJson).id === 'a2'),
      2_000,
      'removed event',
    );
    const again = await cli(['force-leave', 'a2', '--http', a0.http]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no member "a2"/);

    // join: a lone agent given seeds over the API.
    const a3 = await startAgent('a3');
    agents.push(a3);
    assert.equal((await postJson(a3.http, '/join', { seeds: 'nope' })).status, 400);
    assert.equal((await postJson(a3.http, '/join', { seeds: ['not an address'] })).status, 400);
    const joined = await cli(['join', a0.gossip, '--http', a3.http]);
    assert.equal(joined.code, 0, joined.stderr);
    await waitFor(async () => (await liveIds(a3.http)).join() === 'a0,a1,a3', 10_000, 'a3 joined through the API');
    assert.equal((await getJson(a3.http, '/ready')).status, 200);

    // leave: a1 leaves gracefully and exits 0; a0 hears the leave itself (reason "left": the failure
    // detector would say "suspected"), however long a loaded machine takes to run the CLI.
    const left = await cli(['leave', '--http', a1.http]);
    assert.equal(left.code, 0, left.stderr);
    assert.equal(await a1.exited, 0);
    await waitFor(
      () => all.events.some((e) => e.event === 'dead' && (e.data.node as MemberJson).id === 'a1'),
      10_000,
      'a1 seen dead',
    ).catch((err) => {
      console.log(JSON.stringify(all.events.slice(-4)), all.comments.slice(-2));
      throw err;
    });
    const a1Dead = all.events
      .filter((e) => e.event === 'dead' && (e.data.node as MemberJson).id === 'a1')
      .map((e) => e.data.reason);
    assert.deepEqual(a1Dead, ['left'], 'a1 is dead because it said so, not because it went silent');
  } finally {
    for (const s of streams) s.close();
    killAll(agents);
  }
});

test('/ready is 503 with a reason while an agent with seeds knows nobody, and /health stays 200', async () => {
  const agents: Agent[] = [];
  try {
    const lone = await startAgent('lone', ['--join', '127.0.0.1:9']);
    agents.push(lone);
    const r = await getJson<{ ready: boolean; reason: string }>(lone.http, '/ready');
    assert.equal(r.status, 503);
    assert.equal(r.body.ready, false);
    assert.match(r.body.reason, /no other live member.*127\.0\.0\.1:9/);
    assert.equal((await getJson(lone.http, '/health')).status, 200);
    // SIGSTOP for longer than the stall threshold: on resuming, the agent says it is catching up.
    const peer = await startAgent('peer', ['--join', lone.gossip]);
    agents.push(peer);
    await waitFor(async () => (await getJson(lone.http, '/ready')).status === 200, 10_000, 'lone ready once joined');
    peer.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 2_500));
    peer.proc.kill('SIGCONT');
    const after = await getJson<{ reason: string; localStalls: number }>(peer.http, '/ready');
    assert.equal(after.status, 503, JSON.stringify(after.body));
    assert.match(after.body.reason, /stalled|stopped/);
    await waitFor(
      async () => (await getJson(peer.http, '/ready')).status === 200,
      5_000,
      'ready again after the stall',
    );
  } finally {
    killAll(agents);
  }
});

test('CLI: --help on every subcommand exits 0; unknown commands and flags exit 2 naming them; env vars, flags win', async () => {
  const commands = [
    'agent',
    'members',
    'monitor',
    'join',
    'leave',
    'force-leave',
    'keygen',
    'get',
    'set',
    'delete',
    'event',
    'query',
  ];
  for (const c of commands) {
    for (const flag of ['--help', '-h']) {
      const r = await cli([c, flag]);
      assert.equal(r.code, 0, `${c} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`usage: scuttlebutt ${c}`));
    }
    const h = await cli(['help', c]);
    assert.equal(h.code, 0);
  }
  const top = await cli(['--help']);
  assert.equal(top.code, 0);
  for (const c of commands) assert.match(top.stdout, new RegExp(`^  scuttlebutt ${c} `, 'm'));
  const none = await cli([]);
  assert.equal(none.code, 2);
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  for (const c of commands) {
    const r = await cli([c, '--frobnicate']);
    assert.equal(r.code, 2, c);
    assert.match(r.stderr, /frobnicate/, c);
  }
  const extra = await cli(['leave', 'now']);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /leave takes no arguments/);

  // keygen: a fresh key each time, the size asked for, accepted by --key-file.
  const k1 = (await cli(['keygen'])).stdout.trim();
  const k2 = (await cli(['keygen'])).stdout.trim();
  assert.equal(Buffer.from(k1, 'base64').length, 32);
  assert.notEqual(k1, k2);
  assert.equal(Buffer.from((await cli(['keygen', '--bytes', '16'])).stdout.trim(), 'base64').length, 16);
  assert.equal((await cli(['keygen', '--bytes', '20'])).code, 2);

  // Secure by default: plaintext beyond loopback only with --insecure (or SCUTTLEBUTT_INSECURE=1).
  const open = await cli(['agent', '--bind', '0.0.0.0:0', '--log-level', 'silent']);
  assert.equal(open.code, 2);
  assert.match(open.stderr, /--key-file.*--insecure/s);
  const envOpen = await cli(['agent', '--log-level', 'silent'], { SCUTTLEBUTT_BIND: '0.0.0.0:0' });
  assert.equal(envOpen.code, 2, 'the env var is read');
  assert.equal(
    (await cli(['agent'], { SCUTTLEBUTT_INSECURE: 'maybe' })).stderr.includes('SCUTTLEBUTT_INSECURE must be'),
    true,
  );
  const agents: Agent[] = [];
  try {
    // Flags win over the environment (a bad SCUTTLEBUTT_BIND is ignored), and the library warns of plaintext.
    const insecure = await startAgent('open', ['--bind', '0.0.0.0:0'], { SCUTTLEBUTT_INSECURE: '1' });
    agents.push(insecure);
    assert.ok(
      insecure.stderr.some((l) => /plaintext/.test(l) && /"level":40/.test(l)),
      insecure.stderr.join('\n'),
    );
    const flagWins = await startAgent('flag', ['--bind', '127.0.0.1:0'], {
      SCUTTLEBUTT_BIND: 'not-an-address',
      SCUTTLEBUTT_CLUSTER: 'env-cluster',
      SCUTTLEBUTT_TAG: 'from=env,zone=z1',
    });
    agents.push(flagWins);
    const self = (await getJson<{ self: MemberJson }>(flagWins.http, '/members')).body.self;
    assert.deepEqual(self.metadata, { from: 'env', zone: 'z1' });
    assert.equal(
      (await cli(['members', '--json'], { SCUTTLEBUTT_HTTP: flagWins.http })).code,
      0,
      'SCUTTLEBUTT_HTTP is read by client commands',
    );
  } finally {
    killAll(agents);
  }
});

test('monitor streams events until the agent goes away', async () => {
  const agents: Agent[] = [];
  try {
    const a = await startAgent('m0');
    agents.push(a);
    const mon = execFile(process.execPath, [MAIN, 'monitor', '--http', a.http]);
    let out = '';
    mon.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const exit = new Promise<number | null>((r) => mon.on('exit', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 500));
    agents.push(await startAgent('m1', ['--join', a.gossip]));
    await waitFor(
      () => /live\s+m1\s+127\.0\.0\.1:\d+\s+generation \d+/.test(out),
      10_000,
      `monitor prints m1 live: ${out}`,
    );
    a.proc.kill('SIGKILL');
    assert.equal(await exit, 1);
  } finally {
    killAll(agents);
  }
});

test('the write token: an API beyond loopback needs one; with it, reads stay open and every change must carry it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-token-'));
  const tokenFile = join(dir, 'http-token');
  const agents: Agent[] = [];
  try {
    // Secure by default: an API beyond loopback without a token is refused, saying what to give.
    const open = await cli(['agent', '--bind', '127.0.0.1:0', '--http', '0.0.0.0:0', '--log-level', 'silent']);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /--http 0\.0\.0\.0:0 reaches beyond this host.*--http-token-file.*--insecure/s);
    writeFileSync(tokenFile, 'short\n');
    const short = await cli([
      'agent',
      '--bind',
      '127.0.0.1:0',
      '--http-token-file',
      tokenFile,
      '--log-level',
      'silent',
    ]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 16 characters.*scuttlebutt keygen/s);
    writeFileSync(tokenFile, 'has a space in it, sixteen+\n');
    assert.match(
      (await cli(['agent', '--bind', '127.0.0.1:0', '--http-token-file', tokenFile, '--log-level', 'silent'])).stderr,
      /printable ASCII without spaces/,
    );
    assert.match(
      (await cli(['set', 'k', 'v', '--http-token-file', join(dir, 'missing')])).stderr,
      /--http-token-file: cannot read/,
    );

    const token = (await cli(['keygen'])).stdout.trim();
    writeFileSync(tokenFile, `${token}\n`);
    const a = await startAgent('t0', ['--http', '0.0.0.0:0', '--http-token-file', tokenFile]);
    agents.push(a);
    assert.ok(
      a.stderr.some((l) => /reads the membership and metadata; firewall it/.test(l)),
      'the open reads are warned of',
    );
    const http = a.http.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
    const put = (auth?: string): Promise<Response> =>
      fetch(`http://${http}/kv/role`, {
        method: 'PUT',
        body: 'api',
        headers: auth === undefined ? {} : { authorization: auth },
      });

    for (const path of ['/health', '/ready', '/members', '/stats', '/metrics', '/ui'])
      assert.equal((await fetch(`http://${http}${path}`)).status, 200, `GET ${path} needs no token`);
    const none = await put();
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="scuttlebutt"');
    assert.match(
      ((await none.json()) as { error: string }).error,
      /PUT \/kv\/KEY changes this agent.*no Authorization header.*Authorization: Bearer/,
    );
    for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token, 'Bearer ']) {
      const r = await put(wrong);
      assert.equal(r.status, 401, wrong);
      assert.match(((await r.json()) as { error: string }).error, /Authorization|a wrong token/);
    }
    assert.equal((await postJson(http, '/leave', {})).status, 401, 'POST /leave without the token');
    assert.equal(
      (await postJson(http, '/force-leave', { node: 'nobody' })).status,
      401,
      'POST /force-leave without the token',
    );
    assert.equal(a.proc.exitCode, null, 'the agent did not leave');
    assert.equal(
      (await put(`bearer   ${token} `)).status,
      200,
      'the scheme is case-insensitive, spaces around the token allowed',
    );
    const self = async (): Promise<Record<string, string>> =>
      (await getJson<{ self: MemberJson }>(http, '/members')).body.self.metadata;
    assert.equal((await self()).role, 'api');

    // The client commands: refused without the token, with a message that says which flag gives it.
    const refused = await cli(['set', 'zone', 'z1', '--http', http]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--http-token-file/);
    assert.equal((await cli(['set', 'zone', 'z1', '--http', http, '--http-token-file', tokenFile])).code, 0);
    assert.equal(
      (await cli(['delete', 'role', '--http', http], { SCUTTLEBUTT_HTTP_TOKEN_FILE: tokenFile })).code,
      0,
      'the variable is read too',
    );
    assert.deepEqual(await self(), { zone: 'z1' });
    assert.equal((await cli(['members', '--json', '--http', http])).code, 0, 'reads need no token');
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * `agent --snapshot`: the file's checks and atomic writes, and with real agents: a restarted agent with its
 * snapshot and no seeds (or seeds that do not answer) is back in the cluster; a corrupt snapshot is reported,
 * ignored and rewritten.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  readSnapshot,
  rejoinAddresses,
  RETENTION_MS,
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  writeAtomically,
  type SnapshotFile,
} from '../../src/cli/snapshot.js';
import { killAll, liveIds, startAgent, waitFor, type Agent } from './agents.js';

const now = Date.now();
const valid: SnapshotFile = {
  format: SNAPSHOT_FORMAT,
  version: SNAPSHOT_VERSION,
  clusterId: 'default',
  nodeId: 'me',
  nodeAddress: '127.0.0.1:1',
  written: now,
  lamportClocks: { event: 7, query: 3 },
  members: [
    { id: 'old', address: '10.0.0.9:1', status: 'failed', lastSeen: now - RETENTION_MS - 1, generation: 1 },
    { id: 'f', address: '10.0.0.2:1', status: 'failed', lastSeen: now - 1000, generation: 1 },
    { id: 'l1', address: '10.0.0.1:1', status: 'live', lastSeen: now - 5000, generation: 1 },
    { id: 'me-before', address: '127.0.0.1:1', status: 'live', lastSeen: now, generation: 1 },
    { id: 'l2', address: '10.0.0.3:1', status: 'live', lastSeen: now, generation: 1 },
  ],
};

test('readSnapshot: a valid file reads back; each kind of damage is named, never thrown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
  try {
    const path = join(dir, 'snap.json');
    const text = JSON.stringify(valid);
    writeFileSync(path, text);
    assert.deepEqual(readSnapshot(path), { ok: true, snapshot: valid });
    const cases: [string, RegExp][] = [
      [text.slice(0, text.length / 2), /not valid JSON \(truncated or corrupt\)/],
      ['', /it is empty/],
      ['[]', /not a JSON object/],
      [JSON.stringify({ ...valid, format: 'serf' }), /"format" is not "scuttlebutt-snapshot"/],
      [JSON.stringify({ ...valid, version: 2 }), /format version 2; this agent reads version 1/],
      [JSON.stringify({ ...valid, lamportClocks: { event: -1, query: 0 } }), /lamportClocks/],
      [JSON.stringify({ ...valid, members: [{ id: 'x', address: 'y', status: 'gone' }] }), /member 0 is not/],
    ];
    for (const [content, why] of cases) {
      writeFileSync(path, content);
      const r = readSnapshot(path);
      assert.ok(!r.ok && !r.missing && why.test(r.problem), `${content.slice(0, 40)}: ${JSON.stringify(r)}`);
    }
    const missing = readSnapshot(join(dir, 'none.json'));
    assert.ok(!missing.ok && missing.missing);
    const unreadable = readSnapshot(dir); // a directory
    assert.ok(!unreadable.ok && !unreadable.missing && /cannot read it/.test(unreadable.problem));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rejoinAddresses: live members first, most recent first, without its own address or expired ones', () => {
  assert.deepEqual(rejoinAddresses(valid, ['127.0.0.1:1'], now), ['10.0.0.3:1', '10.0.0.1:1', '10.0.0.2:1']);
});

test('writeAtomically: the file is replaced whole and no temporary file is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
  try {
    const path = join(dir, 'sub', 'snap.json');
    await writeAtomically(path, 'one');
    await writeAtomically(path, 'two');
    assert.equal(readFileSync(path, 'utf8'), 'two');
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['snap.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const snapshotOf = (path: string): SnapshotFile => JSON.parse(readFileSync(path, 'utf8')) as SnapshotFile;

test('an agent restarted with its snapshot and no seeds, or with seeds that do not answer, is back in the cluster', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
  const agents: Agent[] = [];
  try {
    const path = join(dir, 'b.json');
    const a = await startAgent('sa');
    agents.push(a);
    const c = await startAgent('sc', ['--join', a.gossip]);
    agents.push(c);
    const b = await startAgent('sb', ['--join', a.gossip, '--snapshot', path]);
    agents.push(b);
    await waitFor(
      () => existsSync(path) && snapshotOf(path).members.filter((m) => m.status === 'live').length === 2,
      10_000,
      'the snapshot holds both peers live',
    );
    assert.deepEqual(
      snapshotOf(path)
        .members.map((m) => [m.id, m.address])
        .sort(),
      [
        ['sa', a.gossip],
        ['sc', c.gossip],
      ],
    );
    b.proc.kill('SIGKILL');
    await b.exited;

    // No seeds: the snapshot's addresses are joined at once.
    const b2 = await startAgent('sb', ['--snapshot', path]);
    agents.push(b2);
    await waitFor(async () => (await liveIds(b2.http)).join() === 'sa,sb,sc', 10_000, 'b2 sees the cluster');
    await waitFor(async () => (await liveIds(a.http)).includes('sb'), 10_000, 'the cluster sees b2');
    assert.ok(b2.stderr.some((l) => /rejoining through the 2 address\(es\) of snapshot/.test(l)));
    b2.proc.kill('SIGKILL');
    await b2.exited;

    // A seed that never answers: after a few rounds the snapshot's addresses are tried.
    const b3 = await startAgent('sb', ['--snapshot', path, '--join', '127.0.0.1:9']);
    agents.push(b3);
    await waitFor(async () => (await liveIds(b3.http)).join() === 'sa,sb,sc', 15_000, 'b3 sees the cluster');
    assert.ok(b3.stderr.some((l) => /no seed answered: rejoining through/.test(l)));
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt snapshot is reported, ignored and rewritten; the agent joins through its seeds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
  const agents: Agent[] = [];
  try {
    const path = join(dir, 'b.json');
    writeFileSync(path, JSON.stringify(valid).slice(0, 57));
    const a = await startAgent('ca');
    agents.push(a);
    const b = await startAgent('cb', ['--snapshot', path, '--join', a.gossip]);
    agents.push(b);
    assert.ok(
      b.stderr.some((l) => /snapshot .*b\.json ignored: it is not valid JSON \(truncated or corrupt\)/.test(l)),
      b.stderr.join('\n'),
    );
    await waitFor(async () => (await liveIds(b.http)).join() === 'ca,cb', 10_000, 'cb joins through its seed');
    await waitFor(
      () => {
        const r = readSnapshot(path);
        return r.ok && r.snapshot.members.map((m) => m.id).join() === 'ca';
      },
      5000,
      'the snapshot rewritten with the member cb joined',
    );
    const metrics = await (await fetch(`http://${b.http}/metrics`)).text();
    assert.match(metrics, /scuttlebutt_snapshot_writes_total\{outcome="ok"\} [1-9]/);
    assert.match(metrics, /scuttlebutt_snapshot_writes_total\{outcome="failed"\} 0\b/);
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a snapshot that can be neither read nor written is logged, and the agent runs on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-snap-'));
  const agents: Agent[] = [];
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const path = join(file, 'snap.json'); // under a regular file: ENOTDIR for both
    const a = await startAgent('na');
    agents.push(a);
    const b = await startAgent('nb', ['--snapshot', path, '--join', a.gossip]);
    agents.push(b);
    assert.ok(
      b.stderr.some((l) => /snapshot .* ignored: cannot read it: ENOTDIR/.test(l)),
      b.stderr.join('\n'),
    );
    await waitFor(async () => (await liveIds(b.http)).join() === 'na,nb', 10_000, 'nb joins through its seed');
    await waitFor(() => b.stderr.some((l) => /snapshot .* not written \(the agent runs on/.test(l)), 5000, 'logged');
    await new Promise((r) => setTimeout(r, 1500));
    // Logged once, however many writes failed since.
    assert.equal(b.stderr.filter((l) => /not written/.test(l)).length, 1);
    const metrics = await (await fetch(`http://${b.http}/metrics`)).text();
    assert.match(metrics, /scuttlebutt_snapshot_writes_total\{outcome="failed"\} [1-9]/);
    assert.equal(b.proc.exitCode, null);
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

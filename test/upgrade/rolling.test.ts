/**
 * A real rolling upgrade, from each earlier release still spoken: the last commit that spoke only
 * protocol 3, and the previous release (protocols 3 and 4, with negotiation). Each is built from this
 * repository's own history into a temporary directory; five agents run it on
 * loopback. A sixth joins on this tree's build (a scale-out in mid-upgrade: with no dead member
 * around, its membership is the old agents', so it sends them compact digests, whose heartbeats
 * must then be exact). Then each old agent is stopped (SIGTERM) and restarted on this tree's build
 * with the same id and ports, one at a time, while metadata is written. Every agent's view is
 * watched throughout.
 * Asserted: no member that was up is ever convicted by anyone, every live member's metadata is the
 * same everywhere at every step, nothing failed to encode for an old peer, and once all run the
 * new build, every packet is in the newest protocol.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pathToFileURL } from 'node:url';
import { freePorts, waitFor } from '../runtime/procs.js';
import { packetCases, readFixture } from '../wire/golden.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from '../../src/wire/codec.js';

interface Release {
  readonly commit: string;
  /** The protocol versions it reads and writes. */
  readonly speaks: readonly ProtocolVersion[];
}

export const RELEASES: readonly Release[] = [
  // The last commit whose wire format is protocol 3 (the next, ee4ec5f, introduced protocol 4).
  { commit: 'bbfe99625c0fe117106bae640d144c1da9b28d3d', speaks: [3] },
  // The last commit whose newest protocol is 4 (the next introduced protocol 5).
  { commit: '456853982c87b03be7a5e9b5ab97cb99b27098ce', speaks: [3, 4] },
];
const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const NEW_AGENT = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** Agents on the old build at first; one more joins on the new build. */
const N = 5;
const INTERVAL_MS = 200;
const POLL_MS = 50;

const git = (...args: string[]): string => execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Why a release cannot be built from history here, or null when it can. */
function historyUnavailable(commit: string): string | null {
  try {
    if (git('rev-parse', '--is-shallow-repository') === 'true') return 'a shallow clone (git fetch --unshallow, or clone in full)';
    git('cat-file', '-e', `${commit}^{commit}`);
    return null;
  } catch (err) {
    return `no git history with commit ${commit.slice(0, 7)} (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * A release's src/ built into a temporary directory: `git archive` of the pinned commit
 * (no worktree registered in the shared repository), this tree's node_modules linked in (the
 * compiler is all the old build needs), and tsc over src/ only.
 */
function buildRelease(commit: string, dir: string): string {
  const tar = join(dir, 'src.tar');
  git('archive', '--format=tar', '-o', tar, commit, 'src', 'tsconfig.json', 'package.json');
  execFileSync('tar', ['-xf', tar, '-C', dir]);
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src/**/*.ts'] }));
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'pipe' });
  } catch (err) {
    throw new Error(`building release ${commit.slice(0, 7)} failed: ${String((err as { stdout?: Buffer }).stdout ?? err)}`);
  }
  const agent = join(dir, 'dist', 'src', 'cli', 'main.js');
  assert.ok(existsSync(agent), `release ${commit.slice(0, 7)} built its agent`);
  return agent;
}

interface Member {
  id: string;
  generation: number;
  status: string;
  metadata: Record<string, string>;
}
interface View {
  self: Member;
  live: Member[];
  dead: Member[];
}
interface AgentStats {
  dropped: Record<string, number>;
  packetsOutByVersion?: Record<string, number>;
  packetsInByVersion?: Record<string, number>;
}

class Agent {
  proc: ChildProcess | null = null;
  generation = 0;
  build: 'old' | 'new' = 'old';
  /** What this process was given: its tags and the keys set on it since it started. */
  metadata: Record<string, string> = {};
  stderr = '';
  private stopping = false;

  constructor(
    readonly i: number,
    readonly port: number,
    readonly http: number,
  ) {}

  get id(): string {
    return `u${this.i}`;
  }

  async start(agentPath: string, build: 'old' | 'new', seeds: number[]): Promise<void> {
    this.build = build;
    this.metadata = { idx: String(this.i), role: this.i % 2 === 0 ? 'api' : 'db' };
    const args = [agentPath, 'agent', '--bind', `127.0.0.1:${this.port}`, '--http', `127.0.0.1:${this.http}`, '--node-id', this.id, '--interval-ms', String(INTERVAL_MS), '--log-level', 'warn'];
    for (const [k, v] of Object.entries(this.metadata)) args.push('--tag', `${k}=${v}`);
    if (seeds.length > 0) args.push('--join', seeds.map((p) => `127.0.0.1:${p}`).join(','));
    this.stderr = '';
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc = proc;
    await waitFor(async () => (await this.view().catch(() => null)) !== null, 10_000, `${this.id} (${build}) answers`);
    this.generation = ((await this.view()) as View).self.generation;
  }

  /** SIGTERM: the agent leaves gracefully. SIGKILL after 10 s, said in the returned note (never seen so far). */
  async stop(): Promise<string | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return null;
    this.stopping = true; // no more polls: it is leaving
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 10_000))]);
    if (late) {
      proc.kill('SIGKILL');
      await exited;
    }
    this.proc = null;
    this.stopping = false;
    return late ? `${this.id} did not exit within 10 s of SIGTERM: killed` : null;
  }

  kill(): void {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && !this.stopping;
  }

  /**
   * One request on its own connection (Connection: close). A kept-alive connection from the watcher's
   * polls would hold the agent's HTTP server open when it shuts down.
   */
  call(method: 'GET' | 'PUT', path: string, body?: string): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: this.http, path, method, agent: false, timeout: 2000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown });
          } catch (err) {
            reject(err as Error);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${this.id}: no answer to ${method} ${path} in 2 s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async get(path: string): Promise<unknown> {
    return (await this.call('GET', path)).json;
  }

  view(): Promise<View> {
    return this.get('/members') as Promise<View>;
  }

  stats(): Promise<AgentStats> {
    return this.get('/stats') as Promise<AgentStats>;
  }

  async set(key: string, value: string): Promise<void> {
    const res = await this.call('PUT', `/kv/${encodeURIComponent(key)}`, value);
    assert.equal(res.status, 200, `${this.id} set ${key}`);
    this.metadata[key] = value;
  }
}

/**
 * Polls every running agent's view. A conviction is a member seen dead by an observer while the
 * process of that generation was running and had not been asked to stop.
 */
class Watcher {
  readonly convictions: string[] = [];
  private readonly stopping = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly agents: Agent[]) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The agent's current generation may now be seen dead (it is being stopped). */
  releasing(a: Agent): void {
    this.stopping.add(`${a.id}/${a.generation}`);
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const up = new Set(this.agents.filter((a) => a.running).map((a) => `${a.id}/${a.generation}`));
      await Promise.all(
        this.agents.filter((a) => a.running).map(async (observer) => {
          const view = await observer.view().catch(() => null);
          if (!view) return;
          for (const m of view.dead) {
            const key = `${m.id}/${m.generation}`;
            if (up.has(key) && !this.stopping.has(key)) this.convictions.push(`${observer.id} (${observer.build}) convicted ${key}`);
          }
        }),
      );
    } finally {
      this.busy = false;
    }
  }
}

/** Every running agent sees every running agent's current generation live, with exactly its metadata. */
async function consistent(agents: Agent[]): Promise<boolean> {
  const running = agents.filter((a) => a.running);
  const views = await Promise.all(running.map((a) => a.view().catch(() => null)));
  return views.every((v) => {
    if (!v) return false;
    return running.every((a) => {
      const m = v.live.find((x) => x.id === a.id && x.generation === a.generation);
      return m !== undefined && JSON.stringify(sorted(m.metadata)) === JSON.stringify(sorted(a.metadata));
    });
  });
}

const sorted = (o: Record<string, string>): [string, string][] => Object.entries(o).sort(([a], [b]) => a.localeCompare(b));

/** Packets sent and received by every agent: in the newest protocol, in any older one, and messages that failed to encode. */
async function totals(agents: Agent[]): Promise<{ older: number; newest: number; encodeFailed: number }> {
  let older = 0;
  let newest = 0;
  let encodeFailed = 0;
  for (const a of agents) {
    const s = await a.stats();
    for (const byVersion of [s.packetsOutByVersion ?? {}, s.packetsInByVersion ?? {}]) {
      for (const [v, n] of Object.entries(byVersion)) {
        if (Number(v) === PROTOCOL_VERSION) newest += n;
        else older += n;
      }
    }
    encodeFailed += s.dropped['encode-failed'] ?? 0;
  }
  return { older, newest, encodeFailed };
}

/** What the release's codec exports (the protocol 3 release takes no version argument: it speaks only 3). */
interface OldCodec {
  decodeMessage(body: Uint8Array, version: ProtocolVersion): unknown;
  encodeMessage(m: unknown, version: ProtocolVersion): Uint8Array;
}
interface OldEnvelope {
  open(packet: Uint8Array, opts: unknown): Uint8Array;
}

/** The golden fixtures of every version a release speaks are what that release itself reads and writes, byte for byte. */
async function releaseReadsFixtures(release: Release, dir: string): Promise<void> {
  const codec = (await import(pathToFileURL(join(dir, 'dist', 'src', 'wire', 'codec.js')).href)) as OldCodec;
  const envelope = (await import(pathToFileURL(join(dir, 'dist', 'src', 'transport', 'envelope.js')).href)) as OldEnvelope;
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const name7 = release.commit.slice(0, 7);
  for (const version of release.speaks) {
    const fixtures = readFixture(version);
    for (const [name, bytes] of fixtures) {
      if (name.startsWith('packet-')) continue;
      assert.equal(hex(codec.encodeMessage(codec.decodeMessage(bytes, version), version)), hex(bytes), `${name7} re-encodes protocol ${version} fixture ${name} to its bytes`);
    }
    for (const c of packetCases(version)) assert.equal(hex(envelope.open(fixtures.get(c.name) as Uint8Array, c.options)), hex(c.body), `${name7} opens protocol ${version}'s ${c.name}`);
  }
}

for (const release of RELEASES) {
  const from = `${release.commit.slice(0, 7)} (protocol ${release.speaks.join(' and ')})`;
  const unavailable = historyUnavailable(release.commit);
  test(`rolling upgrade from ${from} to protocol ${PROTOCOL_VERSION}, one agent at a time: nobody convicted, metadata intact, all in ${PROTOCOL_VERSION} at the end`, { skip: unavailable ? `cannot build release ${from}: ${unavailable}` : false, timeout: 180_000 }, (t) => upgrade(t, release));
}

async function upgrade(t: TestContext, release: Release): Promise<void> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'sb-previous-'));
  const ports = freePorts(2 * (N + 1));
  const agents = Array.from({ length: N + 1 }, (_, i) => new Agent(i, ports[2 * i] as number, ports[2 * i + 1] as number));
  const [olds, joiner] = [agents.slice(0, N), agents[N] as Agent];
  const watcher = new Watcher(agents);
  // Also on a timeout, when the body below is abandoned mid-await: no agent outlives the test.
  t.after(() => {
    watcher.stop();
    for (const a of agents) a.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const oldAgent = buildRelease(release.commit, dir);
    t.diagnostic(`release ${release.commit.slice(0, 7)} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await releaseReadsFixtures(release, dir);
    /** Packets in a version the old agents do not speak that they dropped (negotiation's probes and first tries), read before each stops. */
    let oldDropped = 0;
    // Members up for different times, as in production: heartbeats far enough apart that low bits
    // pay (a cluster started all at once keeps exact heartbeats anyway).
    for (const a of olds) {
      await a.start(oldAgent, 'old', a.i === 0 ? [] : [agents[0]!.port]);
      await new Promise((r) => setTimeout(r, 5 * INTERVAL_MS));
    }
    await waitFor(() => consistent(agents), 15_000, 'the old cluster converged');
    watcher.start();
    // Metadata before the upgrade: tags on every command line (kept across restarts, like any
    // deployment's configuration) and a key set at runtime on every agent.
    for (const a of olds) await a.set('before', `written-by-${a.id}-old`);
    await waitFor(() => consistent(agents), 10_000, 'metadata written before the upgrade everywhere');

    await joiner.start(NEW_AGENT, 'new', [agents[0]!.port]);
    await joiner.set('before', `written-by-${joiner.id}`);
    await waitFor(() => consistent(agents), 15_000, `${joiner.id} (new) joined the old cluster`);
    await new Promise((r) => setTimeout(r, 15 * INTERVAL_MS)); // gossip in the mixed cluster
    assert.equal((await joiner.stats()).dropped['encode-failed'] ?? 0, 0, 'the joiner wrote nothing the old agents cannot read');

    for (const a of olds) {
      const stepAt = Date.now();
      const dropped = (await a.stats()).dropped;
      // The protocol 3 release counts every version it does not speak as bad-version.
      oldDropped += (dropped['envelope:bad-version'] ?? 0) + (dropped['envelope:version-too-new'] ?? 0);
      watcher.releasing(a);
      const note = await a.stop();
      if (note) t.diagnostic(note);
      const seeds = agents.filter((o) => o !== a).map((o) => o.port);
      await a.start(NEW_AGENT, 'new', seeds);
      // Writes during the upgrade, on the new agent and on one still old (when any is left).
      await a.set('before', `written-by-${a.id}-again`);
      await a.set(`during-${a.i}`, 'new');
      const stillOld = agents.find((o) => o.build === 'old');
      if (stillOld) await stillOld.set(`during-${a.i}`, 'old');
      await waitFor(() => consistent(agents), 15_000, `${a.id} upgraded: every agent sees every member live with its metadata`);
      assert.deepEqual(watcher.convictions, [], `convictions after upgrading ${a.id}`);
      t.diagnostic(`${a.id} upgraded and seen everywhere in ${((Date.now() - stepAt) / 1000).toFixed(1)} s`);
    }

    // Every agent runs the new build: after two probe intervals (negotiation.ts), nothing more in an older protocol.
    await new Promise((r) => setTimeout(r, 20 * INTERVAL_MS));
    const before = await totals(agents);
    await new Promise((r) => setTimeout(r, 15 * INTERVAL_MS));
    const after = await totals(agents);
    assert.equal(after.older - before.older, 0, 'no packet in an older protocol once every agent is upgraded');
    assert.ok(after.newest - before.newest > 100, `gossip goes on in protocol ${PROTOCOL_VERSION} (${after.newest - before.newest} packets)`);
    assert.equal(after.encodeFailed, 0, 'no message refused for an old peer');
    assert.ok(await consistent(agents), 'still consistent at the end');
    assert.deepEqual(watcher.convictions, [], 'no member that was up was ever convicted');
    const warnings = agents.map((a) => a.stderr).join('');
    assert.doesNotMatch(warnings, /speaks protocol/, 'no version was refused');
    t.diagnostic(`packets the old agents could not read, dropped over the upgrade: ${oldDropped}; last window: ${after.newest - before.newest} packets in ${PROTOCOL_VERSION}, ${after.older - before.older} older; total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    watcher.stop();
    for (const a of agents) a.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

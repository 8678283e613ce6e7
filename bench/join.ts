/**
 * `node dist/bench/join.js --nodes N [--runs R] [--poll-ms P] [--timeout-s S] [--after-s A] [--base PORT] [--json]
 *   [-- AGENT FLAGS]`:
 * a mass join of N real agents through one seed, on loopback. Agent 0 (the seed) starts first; agents 1 to N-1
 * start at once with `--join` to it, each with the flags after `--` (e.g. `--protocol 7 --gate-hold-ms 0`).
 * Measured per run:
 *   startS    from the first spawn until every agent's HTTP API answers (the processes' own start);
 *   joinS     from the last agent answering until every agent sees all N alive (`/members` polled every P ms),
 *             at most S s (a run not formed by then is reported as not formed);
 *   seedQueuePeakBytes  the seed's UDP receive queue at its largest, sampled with `ss -uanm` at each poll (the
 *             kernel's backlog of packets the seed has not read yet);
 *   falseDeaths  `dead` membership events summed over every agent's `/metrics` `--after-s` A s (default 40) after
 *             the run ends, so that protocol 7's switch after the gate's 30 s hold falls inside it (no agent is
 *             stopped: each is a false death, however soon refuted); censusConvictions, the part of them that
 *             protocol 7's censuses made (`/stats`).
 * joinS is what `bench/serf.ts` calls join convergence ("from the last agent started until every agent sees all
 * N alive": its clock also starts once every API answers). bench/serf.ts opens the APIs one after the other and
 * polls every 25 ms; here every agent is polled each P ms (default 1000) so the polls stay a small share of two
 * cores at 100 agents. A run not formed counts as S in the median.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './median.js';

const AGENT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface RunResult {
  startS: number;
  joinS: number;
  formed: boolean;
  seedQueuePeakBytes: number;
  falseDeaths: number;
  censusConvictions: number;
}

/** The seed's receive queue in bytes (ss's Recv-Q for the UDP socket bound to the port), 0 if not found. */
function seedQueue(port: number): number {
  try {
    const out = execFileSync('ss', ['-uanH', `sport = :${port}`], { encoding: 'utf8' });
    let q = 0;
    for (const line of out.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 3) q = Math.max(q, Number(f[1]) || 0);
    }
    return q;
  } catch {
    return 0;
  }
}

async function liveCount(apiPort: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/members`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { live: unknown[] };
    return body.live.length;
  } catch {
    return -1;
  }
}

/** `dead` events this agent emitted (its /metrics), and the convictions its censuses made (its /stats). */
async function deaths(apiPort: number): Promise<{ dead: number; census: number }> {
  try {
    const text = await (
      await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5_000) })
    ).text();
    const line = text.split('\n').find((l) => l.startsWith('scuttlebutt_member_events_total{type="dead"}'));
    const stats = (await (
      await fetch(`http://127.0.0.1:${apiPort}/stats`, { signal: AbortSignal.timeout(5_000) })
    ).json()) as {
      liveness?: { census?: { convicted?: number } };
    };
    return { dead: line ? Number(line.split(' ').pop()) : 0, census: stats.liveness?.census?.convicted ?? 0 };
  } catch {
    return { dead: 0, census: 0 };
  }
}

async function oneRun(
  n: number,
  base: number,
  pollMs: number,
  timeoutS: number,
  afterS: number,
  flags: string[],
): Promise<RunResult> {
  const procs: ChildProcess[] = [];
  const api = (i: number): number => base + 2 * i + 1;
  const spawnAgent = (i: number): void => {
    const args = [
      AGENT,
      'agent',
      '--bind',
      `127.0.0.1:${base + 2 * i}`,
      '--http',
      `127.0.0.1:${api(i)}`,
      '--node-id',
      `join-${i}`,
      '--log-level',
      'silent',
      ...flags,
      ...(i > 0 ? ['--join', `127.0.0.1:${base}`] : []),
    ];
    procs.push(spawn(process.execPath, args, { stdio: 'ignore' }));
  };
  let peak = 0;
  try {
    const t0 = Date.now();
    spawnAgent(0);
    while ((await liveCount(api(0))) < 0) await sleep(50); // the seed listens before anyone joins it
    for (let i = 1; i < n; i++) spawnAgent(i);
    const answered = new Array<boolean>(n).fill(false);
    const counts = new Array<number>(n).fill(-1);
    let lastUp = 0;
    const startDeadline = Date.now() + 300_000;
    for (;;) {
      const start = Date.now();
      peak = Math.max(peak, seedQueue(base));
      const got = await Promise.all(Array.from({ length: n }, (_, i) => liveCount(api(i))));
      peak = Math.max(peak, seedQueue(base));
      const now = Date.now();
      got.forEach((c, i) => {
        counts[i] = c;
        if (c >= 0 && !answered[i]) answered[i] = true;
      });
      if (lastUp === 0 && answered.every(Boolean)) lastUp = now;
      const formed = lastUp > 0 && counts.every((c) => c === n);
      if (formed || (lastUp > 0 ? now - lastUp > timeoutS * 1000 : now > startDeadline)) {
        await sleep(afterS * 1000);
        const d = await Promise.all(Array.from({ length: n }, (_, i) => deaths(api(i))));
        return {
          startS: lastUp > 0 ? (lastUp - t0) / 1000 : NaN,
          joinS: lastUp > 0 ? (now - lastUp) / 1000 : NaN,
          formed,
          seedQueuePeakBytes: peak,
          falseDeaths: d.reduce((k, x) => k + x.dead, 0),
          censusConvictions: d.reduce((k, x) => k + x.census, 0),
        };
      }
      await sleep(Math.max(0, pollMs - (Date.now() - start)));
    }
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await sleep(500);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      nodes: { type: 'string', default: '100' },
      runs: { type: 'string', default: '1' },
      'poll-ms': { type: 'string', default: '1000' },
      'timeout-s': { type: 'string', default: '120' },
      base: { type: 'string', default: '29000' },
      'after-s': { type: 'string', default: '40' },
      json: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.nodes);
  const runs = Number(values.runs);
  const base = Number(values.base);
  const timeoutS = Number(values['timeout-s']);
  if (!(n >= 2) || !(runs >= 1) || !(base > 0 && base + 2 * n < 32_768))
    throw new Error('--nodes >= 2, --runs >= 1, and the ports (--base + 2N) below 32768 (the ephemeral range)');
  const results: RunResult[] = [];
  for (let r = 0; r < runs; r++) {
    const res = await oneRun(n, base, Number(values['poll-ms']), timeoutS, Number(values['after-s']), positionals);
    results.push(res);
    if (!values.json)
      process.stdout.write(
        `run ${r + 1}: start ${res.startS.toFixed(2)} s, join ${res.formed ? res.joinS.toFixed(2) : `not formed (${res.joinS.toFixed(1)})`} s, seed queue peak ${res.seedQueuePeakBytes} B, false deaths ${res.falseDeaths} (census ${res.censusConvictions})\n`,
      );
  }
  const summary = {
    nodes: n,
    flags: positionals,
    runs: results,
    formed: results.filter((r) => r.formed).length,
    medianJoinS: median(results.map((r) => (r.formed ? r.joinS : timeoutS))),
    medianStartS: median(results.map((r) => r.startS)),
    medianSeedQueuePeakBytes: median(results.map((r) => r.seedQueuePeakBytes)),
    falseDeaths: results.reduce((k, r) => k + r.falseDeaths, 0),
  };
  process.stdout.write(
    values.json
      ? `${JSON.stringify(summary)}\n`
      : `median join ${summary.medianJoinS.toFixed(2)} s (${summary.formed}/${runs} formed), start ${summary.medianStartS.toFixed(2)} s, seed queue peak ${summary.medianSeedQueuePeakBytes} B, false deaths ${summary.falseDeaths} in all\n`,
  );
}

await main();

/**
 * `node dist/bench/idle-rss.js [--nodes N] [--at S[,S...]] [--runs R] [--base PORT] [--against DIR] [--json]
 * [-- AGENT FLAGS]`: the resident memory and CPU of idle agents. N real agents (default 10) on loopback, all joining
 * the first, each with the flags after `--` (e.g. `--protocol 7`); at S seconds after the last one started (default
 * 60), each agent's VmRSS, RssAnon and RssFile from /proc/PID/status, and from the second S on its CPU (utime +
 * stime, /proc/PID/stat) since the S before, in % of one core. Printed per run: the median over the agents of each
 * build; then, over R runs (default 3), the median of those medians.
 *
 * `--against DIR` runs every other agent from another build (DIR holding dist/src/cli/main.js, e.g. a checkout of
 * main built with `npx tsc`) in the same cluster, so that both builds gossip with the same members at the same
 * time on the same host: the host's load and the cluster's traffic, which move an idle agent's memory by a
 * megabyte or two between runs, then move both alike.
 */
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './median.js';
import { procMB } from './proc-status.js';

const AGENT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Memory {
  rss: number;
  anon: number;
  file: number;
  /** % of one core since the instant before (NaN at the first). */
  cpu: number;
}

/** Clock ticks a second (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** Seconds of CPU (user + system) used by `pid` so far, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command's closing parenthesis: state is field 3, utime 14 and stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** MB resident, anonymous and file-backed, from /proc/PID/status. */
function memory(pid: number): Memory {
  const m = procMB(pid, ['VmRSS', 'RssAnon', 'RssFile'], NaN);
  return { rss: m.VmRSS, anon: m.RssAnon, file: m.RssFile, cpu: Number.NaN };
}

const medianOf = (ms: Memory[]): Memory => ({
  rss: median(ms.map((m) => m.rss)),
  anon: median(ms.map((m) => m.anon)),
  file: median(ms.map((m) => m.file)),
  cpu: median(ms.map((m) => m.cpu)),
});

/** One run: memory by build at each of `at` seconds. */
async function oneRun(
  n: number,
  base: number,
  at: number[],
  builds: { name: string; main: string }[],
  flags: string[],
): Promise<Map<number, Map<string, Memory>>> {
  const procs: { build: string; proc: ChildProcess }[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const build = builds[i % builds.length] as { name: string; main: string };
      const args = [
        build.main,
        'agent',
        '--bind',
        `127.0.0.1:${base + 2 * i}`,
        '--http',
        `127.0.0.1:${base + 2 * i + 1}`,
        '--node-id',
        `idle-${i}`,
        '--log-level',
        'silent',
        ...flags,
        ...(i > 0 ? ['--join', `127.0.0.1:${base}`] : []),
      ];
      procs.push({ build: build.name, proc: spawn(process.execPath, args, { stdio: 'ignore' }) });
      if (i === 0) await sleep(300); // the seed listens before the others join it
    }
    const started = Date.now();
    const out = new Map<number, Map<string, Memory>>();
    let before: { at: number; cpu: number[] } | null = null;
    for (const s of at) {
      await sleep(started + s * 1000 - Date.now());
      const byBuild = new Map<string, Memory[]>();
      const cpu: number[] = [];
      const readAt = performance.now();
      for (const [i, { build, proc }] of procs.entries()) {
        if (proc.exitCode !== null || proc.pid === undefined) throw new Error(`an agent of ${build} exited`);
        cpu.push(cpuSeconds(proc.pid));
        const m = memory(proc.pid);
        if (before) m.cpu = ((100 * (cpu[i]! - before.cpu[i]!)) / (readAt - before.at)) * 1000;
        byBuild.set(build, [...(byBuild.get(build) ?? []), m]);
      }
      before = { at: readAt, cpu };
      out.set(s, new Map([...byBuild].map(([b, ms]) => [b, medianOf(ms)])));
    }
    return out;
  } finally {
    for (const { proc } of procs) proc.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      nodes: { type: 'string', default: '10' },
      at: { type: 'string', default: '60' },
      runs: { type: 'string', default: '3' },
      base: { type: 'string', default: '31000' },
      against: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const n = Number(values.nodes);
  const at = values.at.split(',').map(Number);
  const builds = [{ name: 'this', main: AGENT }];
  if (values.against) builds.push({ name: 'against', main: join(values.against, 'dist/src/cli/main.js') });
  const runs: Map<number, Map<string, Memory>>[] = [];
  for (let r = 0; r < Number(values.runs); r++) {
    const run = await oneRun(n, Number(values.base), at, builds, positionals);
    runs.push(run);
    if (!values.json)
      for (const [s, byBuild] of run)
        for (const [b, m] of byBuild)
          console.log(
            `run ${r + 1}, ${s} s, ${b}: RSS ${m.rss.toFixed(1)} MB (anon ${m.anon.toFixed(1)}, file ` +
              `${m.file.toFixed(1)})${Number.isNaN(m.cpu) ? '' : `, CPU ${m.cpu.toFixed(3)} %`}`,
          );
  }
  const summary = at.flatMap((s) =>
    builds.map(({ name }) => {
      const each = runs.map((r) => r.get(s)?.get(name) as Memory);
      const cpuRuns = each.map((m) => Number(m.cpu.toFixed(3)));
      return { at: s, build: name, ...medianOf(each), runs: each.map((m) => Number(m.rss.toFixed(1))), cpuRuns };
    }),
  );
  if (values.json) console.log(JSON.stringify(summary));
  else
    for (const x of summary)
      console.log(
        `median of ${runs.length}, ${x.at} s, ${x.build}: RSS ${x.rss.toFixed(1)} MB (${x.runs.join(', ')}), ` +
          `anon ${x.anon.toFixed(1)}, file ${x.file.toFixed(1)}` +
          (Number.isNaN(x.cpu) ? '' : `; CPU ${x.cpu.toFixed(3)} % (${x.cpuRuns.join(', ')})`),
      );
}

await main();

/**
 * Imported first by the CLI, beside young-generation.ts: `scuttlebutt agent` starts with V8's compilers
 * beyond its interpreter (Sparkplug, Maglev, TurboFan) off, and turns them on for good once it is busy
 * (optimizeWhenBusy), unless node was given a flag about them (`--jitless`, `--max-opt`, `--no-turbofan`…,
 * on the command line or in NODE_OPTIONS).
 *
 * An idle agent runs a gossip round and a few packets a second: little JavaScript, which the interpreter
 * runs in well under a millisecond. Yet V8 optimises whatever has run often enough, however long that
 * took, so within a minute an idle agent had paid for TurboFan: its code in node's binary paged in (about
 * 3.5 MB of resident file pages) and its compilation memory (about 1.5 MB kept by the allocator), for code
 * that saves it microseconds a second. A busy agent (a write load, a large cluster) does gain from it, and
 * gets it within a window or two of becoming busy.
 *
 * V8 reads these flags each time it decides to compile a function, so they can be changed from inside the
 * process: functions already compiled stay, the next hot ones are compiled.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

/** Node flags that say how V8 compiles: given any, the agent leaves its compilers alone. */
const COMPILER_FLAG = /^--(no-)?(jitless|lite[-_]mode|max[-_]opt|turbofan|opt|sparkplug|maglev|always[-_]sparkplug)\b/;

/** Maglev is on by default from V8 12 (Node 22) on; before, it is experimental and stays off. */
const MAGLEV_BY_DEFAULT = Number(process.versions.node.split('.')[0]) >= 22;

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
/** Whether this process started with the compilers off (an agent, with no compiler flag given to node). */
const held = process.argv[2] === 'agent' && !given.some((a) => COMPILER_FLAG.test(a));
if (held) setCompilers(false);

function setCompilers(on: boolean): void {
  const no = on ? '' : 'no-';
  setFlagsFromString(`--${no}sparkplug`);
  setFlagsFromString(`--${no}turbofan`);
  if (!on || MAGLEV_BY_DEFAULT) setFlagsFromString(`--${no}maglev`);
}

/** How busy counts: CPU time over a window of at least `windowMs`, as a fraction of one core. */
export interface BusyOptions {
  /** Percent of one core; 0 turns the compilers on now. */
  readonly cpuPercent: number;
  /** The shortest window CPU is measured over (default 10 s). */
  readonly windowMs?: number;
  /** Called once, when the compilers go on because the agent got busy. */
  readonly onBusy?: (cpuPercent: number) => void;
}

/**
 * Turns V8's compilers on once the process has used `cpuPercent` of a core over a window of at least
 * `windowMs`. Windows are closed at garbage collections (node's `gc` performance entries), not on a timer:
 * an idle agent does not wake for this, and a busy one allocates, so collects, often. Does nothing when the
 * compilers were not held (not an agent, or node was given a compiler flag). Returns a function that stops
 * watching.
 */
export function optimizeWhenBusy({ cpuPercent, windowMs = 10_000, onBusy }: BusyOptions): () => void {
  if (!held) return () => {};
  if (cpuPercent <= 0) {
    setCompilers(true);
    return () => {};
  }
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let start = performance.now();
  let startCpu = cpuMs();
  const observer = new PerformanceObserver(() => {
    const now = performance.now();
    if (now - start < windowMs) return;
    const used = (100 * (cpuMs() - startCpu)) / (now - start);
    if (used >= cpuPercent) {
      observer.disconnect();
      setCompilers(true);
      onBusy?.(used);
      return;
    }
    start = now;
    startCpu = cpuMs();
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

/**
 * Keeps V8's old generation near what `scuttlebutt agent` holds: once it has grown a step past the
 * least it held since the last collection, the agent asks V8 for a major collection.
 *
 * V8 sets its next old-generation limit at a collection to what survived it times a factor, but at
 * least 8 MB more: its minimum growing step (only its conservative mode takes 2 MB, and node's
 * `--optimize-for-size` makes every collection a memory-reducing one, which takes 8 MB again). An agent
 * holds about 10 MB and under writes promotes a steady trickle of short-lived objects (views, events,
 * requests that outlived two young collections), so V8 lets its old generation fill to about 18 MB
 * before collecting, and keeps those pages: most of the agent's growth under writes (docs/benchmarks.md,
 * "Memory"). A writer taking 10 writes/s makes about four a minute, 27 ms each on the main thread.
 *
 * Objects reach the old generation only at young collections, so the check runs after them (node's
 * `gc` performance entries) rather than on a timer: an idle agent does not wake for it. The step is
 * at least an eighth of what the old generation held, about V8's own smallest factor (1.1) for a large
 * heap, so a large state is not collected more often than V8 would.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's gc extension (`node --expose-gc`), with the options it has taken since V8 9. */
type Collect = (options: { type: 'major'; execution: 'async' }) => void;

/**
 * V8's collection function. The extension is installed in contexts made while `--expose-gc` is set,
 * so a fresh context lends it without making `gc` a global of the agent's own.
 */
function collectFunction(): Collect | undefined {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as Collect;
  setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? (gc as Collect) : undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Bytes of objects in the old generation: every space but the young generation's. */
export function oldGenerationUsed(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) if (!s.space_name.startsWith('new_')) used += s.space_used_size;
  return used;
}

/**
 * Starts the check: a major collection (incremental, V8 finishes it on its own tasks) whenever the old
 * generation holds `stepBytes` (or an eighth of its least, if more) beyond the least it held since the
 * last collection asked for. Returns a function that stops it; `stepBytes` 0 leaves V8 to its own limits.
 */
export function holdOldGeneration(stepBytes: number): () => void {
  const collect = stepBytes > 0 ? collectFunction() : undefined;
  if (!collect) return () => {};
  let least = oldGenerationUsed();
  const observer = new PerformanceObserver(() => {
    const used = oldGenerationUsed();
    if (used < least) least = used;
    else if (used - least > Math.max(stepBytes, least / 8)) {
      collect({ type: 'major', execution: 'async' });
      // What the collection leaves lowers it again at the next check.
      least = used;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

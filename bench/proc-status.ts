/**
 * Fields of a process's /proc/PID/status (or another /proc/PID file of `Key:   N kB` lines, such as smaps_rollup),
 * in MB. A field the file does not hold reads as `missing`, which each caller states: bench/serf.ts has always read 0
 * there, the other benches NaN, and one reader must not change what any of them prints.
 */
import { readFileSync } from 'node:fs';

export function procMB<K extends string>(
  pid: number,
  fields: readonly K[],
  missing: number,
  file = 'status',
): Record<K, number> {
  const text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
  const out = {} as Record<K, number>;
  for (const key of fields) {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    out[key] = m ? Number(m[1]) / 1024 : missing;
  }
  return out;
}

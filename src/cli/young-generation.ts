/**
 * Imported first by the CLI, so that it runs before the modules it loads allocate: keeps V8's young
 * generation at its initial size in `scuttlebutt agent`, unless node was given a semi-space size
 * (node --max-semi-space-size=N, or in NODE_OPTIONS).
 *
 * V8 doubles the young generation each time the bytes surviving its scavenges add up to its size,
 * up to 16 MB a semi-space (32 MB resident), and gives it back only while the process allocates
 * under about 1 MB/s. An agent taking writes allocates more than that (packets decoded, views and
 * events built, HTTP requests) and keeps little, so its young generation grew to 16-32 MB for
 * kilobytes of state: the larger part of its growth under writes (docs/benchmarks.md, "Memory").
 * The maximum is fixed when the heap is set up; the growth factor is read at each growth, so it is
 * what can still be set from inside the process.
 */
import { setFlagsFromString } from 'node:v8';

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
if (process.argv[2] === 'agent' && !given.some((a) => /^--(max-|min-)?semi[-_]space/.test(a)))
  setFlagsFromString('--semi-space-growth-factor=1');

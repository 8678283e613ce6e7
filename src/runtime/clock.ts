/** The runtime's clock, in ms: monotonic, so a wall-clock step cannot look like a stall or a storm of heartbeats. */
export const monotonicNow = (): number => performance.now();

let lastGeneration = 0;
/** Generations must grow across restarts: wall-clock ms, and never twice the same in one process. */
export function nextGeneration(): number {
  lastGeneration = Math.max(Date.now(), lastGeneration + 1);
  return lastGeneration;
}

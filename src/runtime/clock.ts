/** The runtime's clock, in ms: monotonic, so a wall-clock step cannot look like a stall or a storm of heartbeats. */
export const monotonicNow = (): number => performance.now();

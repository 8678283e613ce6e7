/**
 * stats().liveness.census: protocol 7's roll calls at this node (docs/design/liveness-7.md, "The partition rule:
 * the census" and "A neighbour never heard").
 */
export interface LivenessCensusStats {
  /** Censuses this node started (a partition or an unresolved report seen from here; those it joined are not). */
  readonly started: number;
  /** Members censuses convicted here as unreachable: absent and reported, or absent and silent to direct checks. */
  readonly convicted: number;
  /**
   * Censuses that judged, here, a neighbour this node never heard beat (a member that died before its first beat,
   * or whose view does not count this node).
   */
  readonly neverHeard: number;
  /** Such neighbours found absent and silent to direct checks, which this node then reported. */
  readonly neverHeardReported: number;
}

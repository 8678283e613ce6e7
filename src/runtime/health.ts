/**
 * What an orchestrator's probes and a member query ask of a node, as pure functions of its state:
 * liveness and readiness with the reason for a "no", and members filtered by status and tags.
 */
import type { Health, MemberFilter } from './api.js';
import { InvalidArgumentError } from '../errors.js';

export interface HealthInputs {
  readonly now: number;
  readonly intervalMs: number;
  readonly lastRoundAt: number;
  readonly lastPacketAt: number | null;
  readonly lastStallAt: number;
  readonly liveMembers: number;
  readonly localStalls: number;
  readonly closing: boolean;
  readonly seeds: readonly string[];
  /** The seeds resolve to this node alone (asked only when it knows no other member). */
  readonly aloneByConfiguration: () => boolean;
}

/**
 * Alive: not shut down, and gossip rounds are running. Ready: alive, not just stalled, knows another
 * live member (or is alone by configuration), and hears its peers.
 */
export function assessHealth(h: HealthInputs): Health {
  const interval = h.intervalMs;
  const msSinceLastRound = Math.round(h.now - h.lastRoundAt);
  const msSinceLastPacket = h.lastPacketAt === null ? null : Math.round(h.now - h.lastPacketAt);
  const ticking = msSinceLastRound <= 3 * interval + 1000;
  let reason: string | undefined;
  if (h.closing) reason = 'the node has left the cluster or shut down';
  else if (!ticking)
    reason =
      `no gossip round for ${msSinceLastRound} ms (interval ${interval} ms): ` +
      'the event loop is blocked or the process was stopped';
  else if (h.now - h.lastStallAt < Math.max(2 * interval, 1000))
    reason =
      'this process was just stalled (GC, SIGSTOP or an overloaded host): its view of the cluster is catching up';
  else if (h.liveMembers <= 1 && h.seeds.length > 0 && !h.aloneByConfiguration())
    reason = `knows no other live member yet (seeds: ${h.seeds.join(', ')})`;
  else if (h.liveMembers > 1 && (msSinceLastPacket === null || msSinceLastPacket > 2 * interval)) {
    reason =
      `has heard from no peer for ${msSinceLastPacket ?? 'ever'} ms ` +
      `while ${h.liveMembers - 1} are thought live: its network may be down`;
  }
  const alive = !h.closing && ticking;
  return {
    alive,
    ready: alive && reason === undefined,
    ...(reason ? { reason } : {}),
    msSinceLastRound,
    msSinceLastPacket,
    liveMembers: h.liveMembers,
    localStalls: h.localStalls,
    seeds: [...h.seeds],
  };
}

/**
 * The members of `groups` (a snapshot's views or a ClusterState's members) with the filter's status and every one
 * of its tags (own properties only); `values` reads a member's key-values.
 */
export function selectMembers<T>(
  groups: { readonly live: readonly T[]; readonly dead: readonly T[] },
  filter: MemberFilter,
  values: (m: T) => Readonly<Record<string, string>>,
): T[] {
  if (filter.status !== undefined && filter.status !== 'live' && filter.status !== 'dead') {
    throw new InvalidArgumentError(`filter.status must be "live" or "dead" (got ${JSON.stringify(filter.status)})`);
  }
  const tags = Object.entries(filter.tags ?? {});
  const members =
    filter.status === 'live' ? groups.live : filter.status === 'dead' ? groups.dead : [...groups.live, ...groups.dead];
  if (tags.length === 0) return [...members];
  return members.filter((m) => {
    const kv = values(m);
    return tags.every(([k, want]) => Object.hasOwn(kv, k) && kv[k] === want);
  });
}

/**
 * A ring that follows a node's live members: node.ring() builds one. It listens to the node's membership
 * events and, on each, sets the ring's members to the live members matching the filter (the node itself
 * included when it matches), so a member whose tags stop matching leaves the ring as a dead one does.
 */
import { HashRing, type HashRingOptions } from './hash-ring.js';

/** What the ring needs of a node: its live members by tag, and its membership events. */
export interface RingSource {
  members(filter: {
    readonly status: 'live';
    readonly tags?: Readonly<Record<string, string>>;
  }): readonly { readonly id: string }[];
  on(event: 'live' | 'dead' | 'update' | 'removed', listener: () => void): unknown;
  off(event: 'live' | 'dead' | 'update' | 'removed', listener: () => void): unknown;
}

export interface RingOptions extends HashRingOptions {
  /** Only live members whose metadata holds every one of these tags (exact values) are in the ring. */
  readonly filter?: { readonly tags?: Readonly<Record<string, string>> };
}

const EVENTS = ['live', 'dead', 'update', 'removed'] as const;

/** A ring whose members are set from a node's events until it is closed. */
class FollowingRing extends HashRing {
  private detach: (() => void) | null = null;

  follow(detach: () => void): void {
    this.detach = detach;
  }

  override close(): void {
    this.detach?.();
    this.detach = null;
    super.close();
  }
}

export function followMembers(node: RingSource, options: RingOptions = {}): HashRing {
  const tags = options.filter?.tags;
  const current = (): string[] => node.members(tags ? { status: 'live', tags } : { status: 'live' }).map((m) => m.id);
  const ring = new FollowingRing(current(), options.replicas === undefined ? {} : { replicas: options.replicas });
  // Called as a listener of the node's events: a 'change' listener that throws is counted as the node counts
  // any listener that throws (stats().errors.listener), and the ring is already updated by then.
  const refresh = (): void => void ring.setMembers(current());
  for (const e of EVENTS) node.on(e, refresh);
  ring.follow(() => {
    for (const e of EVENTS) node.off(e, refresh);
  });
  return ring;
}

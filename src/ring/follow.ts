/**
 * A ring that follows a node's live members: node.ring() builds one. It listens to the node's membership
 * events and, on each that can change who matches, sets the ring's members to the live members matching
 * the filter (the node itself included when it matches), so a member whose tags stop matching leaves the
 * ring as a dead one does. A metadata update that touches none of the filter's tags (a load figure
 * rewritten every second, say) is skipped without looking at the members: in a large cluster those are
 * the bulk of the events.
 */
import { HashRing, type HashRingOptions } from './hash-ring.js';

/** What the ring needs of a node: its live members by tag, and its membership events. */
export interface RingSource {
  members(filter: {
    readonly status: 'live';
    readonly tags?: Readonly<Record<string, string>>;
  }): readonly { readonly id: string }[];
  on(event: 'live' | 'dead' | 'removed', listener: () => void): unknown;
  on(event: 'update', listener: (member: unknown, keys: readonly string[]) => void): unknown;
  off(event: 'live' | 'dead' | 'removed', listener: () => void): unknown;
  off(event: 'update', listener: (member: unknown, keys: readonly string[]) => void): unknown;
}

export interface RingOptions extends HashRingOptions {
  /** Only live members whose metadata holds every one of these tags (exact values) are in the ring. */
  readonly filter?: { readonly tags?: Readonly<Record<string, string>> };
}

const EVENTS = ['live', 'dead', 'removed'] as const;

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
  const tagKeys = new Set(Object.keys(tags ?? {}));
  const updated = (_member: unknown, keys: readonly string[]): void => {
    if (keys.some((k) => tagKeys.has(k))) refresh();
  };
  for (const e of EVENTS) node.on(e, refresh);
  node.on('update', updated);
  ring.follow(() => {
    for (const e of EVENTS) node.off(e, refresh);
    node.off('update', updated);
  });
  return ring;
}

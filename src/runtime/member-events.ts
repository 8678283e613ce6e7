/**
 * Membership events as the library's users see them: the core's events turned into MemberInfo (the
 * member as of the event), and handed to every kind of listener — `on()` listeners, the NotifyEvents
 * callbacks (`config.events`), async iterators — each guarded, so a throwing listener stops no other, and all
 * on a later turn than the gossip that produced them.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { ClusterSnapshot, CoreEvent, NodeIdentity, NodeView } from '../core/types.js';
import type { ClusterState, MemberInfo, MembershipEvent, NotifyEvents } from './api.js';
import { EventQueue } from './event-queue.js';

export function toMember(v: NodeView): MemberInfo {
  return {
    ...v.node,
    status: v.status,
    heartbeat: v.heartbeat,
    metadata: v.values,
    ...(v.detector ? { detector: v.detector } : {}),
  };
}

/** A core event as a MembershipEvent: the member as the event captured it, else as the core holds it now. */
/** The membership as `snap` holds it, with `self` picked out (the Scuttlebutt.state() answer). */
export function clusterState(snap: ClusterSnapshot, self: NodeIdentity, seeds: readonly string[]): ClusterState {
  const own = snap.live.find((v) => v.node.id === self.id && v.node.generation === self.generation);
  return { self: toMember(own as NodeView), live: snap.live.map(toMember), dead: snap.dead.map(toMember), seeds };
}

export function memberEvent(e: CoreEvent, core: ScuttlebuttCore): MembershipEvent {
  const view = e.view ?? core.member(e.node);
  const node: MemberInfo = view ? toMember(view) : { ...e.node, status: 'dead', heartbeat: 0, metadata: {} };
  switch (e.type) {
    case 'dead':
      return { type: 'dead', node: { ...node, status: 'dead' }, reason: e.reason };
    case 'update':
      return { type: 'update', node, keys: e.keys };
    default:
      return { type: e.type, node };
  }
}

/** A live member with how close it is to conviction (`silence`), as the core's detector sees it `now`. */
export function withSilence(m: MemberInfo, core: ScuttlebuttCore, now: number): MemberInfo {
  const s = m.status === 'live' ? core.silenceOf(m.id, now) : undefined;
  if (!s) return m;
  const phi = core.phiOf(m.id, now) ?? 0;
  return {
    ...m,
    silence: {
      silentForMs: Math.round(s.silentForMs),
      convictAfterMs: Math.round(s.convictAfterMs),
      phi: Number.isFinite(phi) ? Math.round(phi * 100) / 100 : 1e9,
    },
  };
}

/**
 * For each suspected death, the silence that convicted it (see MemberMessage.silenceMs), computed `now`,
 * at conviction; undefined for every other event.
 */
export function convictingSilences(
  events: readonly MembershipEvent[],
  core: ScuttlebuttCore,
  now: number,
): (number | undefined)[] {
  return events.map((e) => {
    const born = e.type === 'dead' && e.reason === 'suspected' ? core.heartbeatBornAt(e.node) : undefined;
    return born === undefined ? undefined : now - born;
  });
}

/**
 * Delivers one event to `on()` listeners, the NotifyEvents callbacks and the iterators' queues; `failed` hears each
 * listener that threw.
 */
export function deliverEvent(
  e: MembershipEvent,
  listeners: readonly ((...args: unknown[]) => void)[],
  callbacks: NotifyEvents | undefined,
  streams: Iterable<EventQueue<MembershipEvent>>,
  failed: (listener: string, err: unknown) => void,
): void {
  const guard = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      failed(what, err);
    }
  };
  const args: unknown[] = e.type === 'dead' ? [e.node, e.reason] : e.type === 'update' ? [e.node, e.keys] : [e.node];
  for (const l of listeners) guard('on', () => l(...args));
  const cb = callbacks;
  if (cb) {
    if (e.type === 'live' && cb.notifyLive) guard('notifyLive', () => cb.notifyLive?.(e.node));
    if (e.type === 'dead' && cb.notifyDead) guard('notifyDead', () => cb.notifyDead?.(e.node));
    if (e.type === 'update' && cb.notifyUpdate) guard('notifyUpdate', () => cb.notifyUpdate?.(e.node));
    if (e.type === 'removed' && cb.notifyRemoved) guard('notifyRemoved', () => cb.notifyRemoved?.(e.node));
  }
  for (const q of streams) q.push(e);
}

export interface MemberEventsComponents {
  /** The node's `on()` listeners of an event type, as its EventEmitter holds them at delivery. */
  readonly listeners: (type: MembershipEvent['type']) => readonly ((...args: unknown[]) => void)[];
  /** The seed-style callbacks (ScuttlebuttConfig.events). */
  readonly callbacks: NotifyEvents | undefined;
  /** Hears each listener that threw: the event type, which kind of listener, the error. */
  readonly onListenerError: (event: MembershipEvent['type'], listener: string, err: unknown) => void;
  /** Hears each event an iterator lost because its reader fell too far behind. */
  readonly onOverflow: () => void;
}

/** Every listener of one node: delivery on a later turn, and the async iterators still open. */
export class MemberEvents {
  private readonly streams = new Set<EventQueue<MembershipEvent>>();

  constructor(private readonly components: MemberEventsComponents) {}

  /** Events from now on, until `signal` aborts or end(); a reader more than `buffer` behind loses the oldest. */
  stream(options: { signal?: AbortSignal; buffer?: number }): AsyncIterableIterator<MembershipEvent> {
    const queue = new EventQueue<MembershipEvent>(options.buffer ?? 10_000, this.components.onOverflow);
    this.streams.add(queue);
    const end = (): void => {
      queue.end();
      this.streams.delete(queue);
    };
    options.signal?.addEventListener('abort', end, { once: true });
    if (options.signal?.aborted) end();
    return queue.iterator(end);
  }

  /** Delivers `events` on a later turn, so a slow or throwing listener cannot stall gossip; `then` runs after them. */
  deliverLater(events: readonly MembershipEvent[], then?: () => void): void {
    setImmediate(() => {
      for (const e of events) this.deliver(e);
      then?.();
    });
  }

  /** Ends every open iterator. */
  end(): void {
    for (const q of this.streams) q.end();
    this.streams.clear();
  }

  private deliver(e: MembershipEvent): void {
    const { listeners, callbacks, onListenerError } = this.components;
    deliverEvent(e, listeners(e.type), callbacks, this.streams, (listener, err) =>
      onListenerError(e.type, listener, err),
    );
  }
}

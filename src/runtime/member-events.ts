/**
 * Membership events as the library's users see them: the core's events turned into MemberInfo (the
 * member as of the event), and handed to every kind of listener — `on()` listeners, the NotifyEvents
 * callbacks (`config.events`), async iterators — each guarded, so a throwing listener stops no other.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { CoreEvent, NodeView } from '../core/types.js';
import type { MemberInfo, MembershipEvent, NotifyEvents } from './api.js';
import type { EventQueue } from './event-queue.js';

export function toMember(v: NodeView): MemberInfo {
  return { ...v.node, status: v.status, heartbeat: v.heartbeat, metadata: v.values, ...(v.detector ? { detector: v.detector } : {}) };
}

/** A core event as a MembershipEvent: the member as the event captured it, else as the core holds it now. */
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

/** Delivers one event to `on()` listeners, the NotifyEvents callbacks and the iterators' queues; `failed` hears each listener that threw. */
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

/**
 * Membership events as the library's users see them: the core's events turned into MemberInfo (the
 * member as of the event), and handed to every kind of listener — `on()` listeners, the NotifyEvents
 * callbacks (`config.events`), async iterators — each guarded, so a throwing listener stops no other, and all
 * on a later turn than the gossip that produced them. User events and queries pass through here too, to their
 * `on()` listeners and to the iterators that asked for them (`include`), so an iterator sees every kind in the
 * order listeners hear them.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { ClusterSnapshot, CoreEvent, NodeIdentity, NodeView } from '../core/types.js';
import { InvalidArgumentError } from '../errors.js';
import type {
  ClusterState,
  EventsOptions,
  IncludableEvent,
  IncludableEvents,
  MemberInfo,
  MembershipEvent,
  NotifyEvents,
  QueryRequest,
  UserEvent,
} from './api.js';
import { EventQueue } from './event-queue.js';

/** Anything an events() iterator can yield. */
type StreamEvent = MembershipEvent | IncludableEvents[IncludableEvent];

const INCLUDABLE: readonly IncludableEvent[] = ['user', 'query'];

/** The `include` of events(), checked: a typo would otherwise leave an iterator silently without what it asked. */
export function includeSet(include: unknown): ReadonlySet<IncludableEvent> {
  if (include === undefined) return new Set();
  const allowed = `allowed: ${INCLUDABLE.map((n) => `'${n}'`).join(', ')}; membership events always come`;
  if (!Array.isArray(include)) throw new InvalidArgumentError(`events({ include }) must be an array (${allowed})`);
  for (const name of include as unknown[])
    if (!INCLUDABLE.includes(name as IncludableEvent))
      throw new InvalidArgumentError(
        `events({ include }): ${JSON.stringify(name) ?? String(name)} is not one (${allowed})`,
      );
  return new Set(include as IncludableEvent[]);
}

export function toMember(v: NodeView): MemberInfo {
  // Written out rather than spread: a members() answer builds one per member, and dashboards poll it.
  const { id, generation, address } = v.node;
  const { status, heartbeat, values: metadata, detector, silence } = v;
  if (!detector) return { id, generation, address, status, heartbeat, metadata };
  if (!silence) return { id, generation, address, status, heartbeat, metadata, detector };
  return { id, generation, address, status, heartbeat, metadata, detector, silence };
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
  streams: Iterable<EventQueue<StreamEvent>>,
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
  readonly listeners: (type: StreamEvent['type']) => readonly ((...args: unknown[]) => void)[];
  /** The seed-style callbacks (ScuttlebuttConfig.events). */
  readonly callbacks: NotifyEvents | undefined;
  /** Hears each listener that threw: the event type, which kind of listener, the error. */
  readonly onListenerError: (event: StreamEvent['type'], listener: string, err: unknown) => void;
  /** Hears each event an iterator lost because its reader fell too far behind. */
  readonly onOverflow: () => void;
}

/** Every listener of one node: delivery on a later turn, and the async iterators still open. */
export class MemberEvents {
  /** The open iterators' queues, each with the other kinds it asked for. */
  private readonly streams = new Map<EventQueue<StreamEvent>, ReadonlySet<IncludableEvent>>();

  constructor(private readonly components: MemberEventsComponents) {}

  /**
   * Events from now on, until `signal` aborts or end(); a reader more than `buffer` behind loses the oldest.
   * Throws InvalidArgumentError for an `include` that names no includable event.
   */
  stream<I extends IncludableEvent = never>(
    options: EventsOptions<I>,
  ): AsyncIterableIterator<MembershipEvent | IncludableEvents[I]> {
    const include = includeSet(options.include);
    const queue = new EventQueue<StreamEvent>(options.buffer ?? 10_000, this.components.onOverflow);
    this.streams.set(queue, include);
    const end = (): void => {
      queue.end();
      this.streams.delete(queue);
    };
    options.signal?.addEventListener('abort', end, { once: true });
    if (options.signal?.aborted) end();
    // Only the kinds in `include` are pushed to this queue (deliverNow), which is what narrows its type.
    return queue.iterator(end) as AsyncIterableIterator<MembershipEvent | IncludableEvents[I]>;
  }

  /** deliverNow() of a user event: what user-events.ts calls. */
  readonly deliverUser = (event: UserEvent): void => this.deliverNow({ type: 'user', event });
  /** deliverNow() of a query: what queries.ts calls. */
  readonly deliverQuery = (query: QueryRequest): void => this.deliverNow({ type: 'query', query });

  /**
   * Hands a user event or a query to its `on()` listeners, then to the iterators that include its kind. Called on
   * the turn it is delivered (never the gossip's: user-events.ts and queries.ts defer it), so it is not deferred again.
   */
  deliverNow(record: IncludableEvents[IncludableEvent]): void {
    const { listeners, onListenerError } = this.components;
    const arg = record.type === 'user' ? record.event : record.query;
    for (const l of listeners(record.type))
      try {
        l(arg);
      } catch (err) {
        onListenerError(record.type, 'on', err);
      }
    for (const [q, include] of this.streams) if (include.has(record.type)) q.push(record);
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
    for (const q of this.streams.keys()) q.end();
    this.streams.clear();
  }

  private deliver(e: MembershipEvent): void {
    const { listeners, callbacks, onListenerError } = this.components;
    deliverEvent(e, listeners(e.type), callbacks, this.streams.keys(), (listener, err) =>
      onListenerError(e.type, listener, err),
    );
  }
}

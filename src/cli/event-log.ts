/**
 * The agent's /events resume buffer: the last events as they were framed, bounded by a count and
 * by bytes.
 *
 * A membership event's frame carries its member as of the event, metadata included, and most
 * events are updates of one or a few keys of a member whose metadata may hold thousands. Kept as
 * frames, a buffer of 1,000 updates of a member with 10 KB of metadata held 10 MB to say what a
 * few hundred bytes each say. So an entry keeps the frame's text around the metadata and, for the
 * metadata, only the keys that changed since the member's previous entry (their new values, or
 * their deletion). A frame is rebuilt on replay from the member's metadata as of just before its
 * oldest kept entry (`base`, advanced as entries leave) with the changes applied in order: the
 * rebuilt frame is the text a client connected at the time was sent, byte for byte.
 *
 * The byte bound counts what the entries hold: their text and the changed keys and values (UTF-8
 * bytes). Beyond it the log also holds, per member with events in it, its metadata at two points
 * (before the oldest kept entry, and at the newest): at most twice what the node's view holds.
 */
import type { MemberInfo, MembershipEvent } from '../runtime/api.js';

type Metadata = Readonly<Record<string, string>>;

interface Entry {
  readonly seq: number;
  /** The frame's text before and after the member's metadata (the whole frame when `member` is absent). */
  readonly head: string;
  readonly tail: string;
  /** The member whose metadata the frame carries, by id; absent for events of no member. */
  readonly member?: string;
  /**
   * How its metadata differs from that in the member's previous entry, in the order applied:
   * [key, value] for a key set, [key, null] for a key deleted. `full` entries hold every key
   * instead (the key order could not be rebuilt from the previous one).
   */
  readonly changes?: readonly (readonly [string, string | null])[];
  readonly full?: boolean;
  /**
   * Set keys are moved to the end (deleted, then added) rather than changed where they are: the
   * node's own view lists its keys by write order, so a key written moves to the end.
   */
  readonly move?: boolean;
  /** A `removed` event: its member has left the view. */
  readonly removed?: boolean;
  readonly bytes: number;
}

/** Per member: its metadata before its oldest kept entry, at its newest, and how many entries it has. */
interface MemberTrack {
  base: Metadata;
  /** Whether `base` is the log's own copy (changed in place as entries leave) or shared with `newest`. */
  ownBase: boolean;
  newest: Metadata;
  entries: number;
}

/** Stands in for the metadata while a frame is serialised, so the text around it can be cut out. */
const HOLE = '\u0000scuttlebutt-metadata\u0000';
const HOLE_JSON = `"metadata":${JSON.stringify(HOLE)}`;
/** What an entry costs beyond its strings (the object, its array slots), counted in its bytes. */
const ENTRY_OVERHEAD = 64;

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

type Changes = readonly (readonly [string, string | null])[];

/** Applies changes to `target` in place (see Entry.move for `move`). */
function applyInPlace(target: Record<string, string>, changes: Changes, move: boolean): void {
  for (const [k, v] of changes) {
    if (v === null || move) delete target[k];
    if (v !== null) target[k] = v;
  }
}

/** `base` with the changes applied, as a new object (`full`: the changes are the whole metadata). */
function applyChanges(base: Metadata, changes: Changes, full: boolean, move: boolean): Metadata {
  // No prototype: a key named __proto__ is a key like any other, as in the node's view.
  const next = Object.create(null) as Record<string, string>;
  if (!full) for (const k of Object.keys(base)) next[k] = base[k] as string;
  applyInPlace(next, changes, move);
  return next;
}

/** An array index ("0", "17"): objects list such keys first, in ascending order, whenever they were added. */
const isIndex = (k: string): boolean => {
  const c = k.charCodeAt(0);
  return c >= 48 && c <= 57 && /^(0|[1-9]\d*)$/.test(k) && Number(k) < 4_294_967_295;
};

/** Whether `next` lists its non-index keys as `prev` with the changes applied where they are, new keys appended. */
function sameOrderInPlace(
  prev: Metadata,
  prevKeys: readonly string[],
  next: Metadata,
  nextKeys: readonly string[],
): boolean {
  let j = 0;
  for (const k of prevKeys) {
    if (isIndex(k) || !Object.hasOwn(next, k)) continue;
    while (j < nextKeys.length && isIndex(nextKeys[j] as string)) j++;
    if (nextKeys[j++] !== k) return false;
  }
  // What follows the surviving keys must all be new (they are then appended in next's order).
  for (; j < nextKeys.length; j++)
    if (!isIndex(nextKeys[j] as string) && Object.hasOwn(prev, nextKeys[j] as string)) return false;
  return true;
}

/** Whether `next` lists its non-index keys as `prev`'s unchanged keys in their order, then every set key. */
function sameOrderMoved(
  prev: Metadata,
  prevKeys: readonly string[],
  next: Metadata,
  nextKeys: readonly string[],
): boolean {
  const unchanged = (k: string): boolean => Object.hasOwn(prev, k) && Object.hasOwn(next, k) && prev[k] === next[k];
  let i = 0;
  let setSeen = false;
  for (const k of nextKeys) {
    if (isIndex(k)) continue;
    if (!unchanged(k)) {
      setSeen = true;
      continue;
    }
    if (setSeen) return false;
    while (i < prevKeys.length && (isIndex(prevKeys[i] as string) || !unchanged(prevKeys[i] as string))) i++;
    if (prevKeys[i++] !== k) return false;
  }
  return true;
}

/**
 * The changes that turn `prev` into `next`, and whether set keys move to the end; null when neither
 * way of applying them gives `next`'s key order (JSON.stringify writes keys in that order, and a
 * rebuilt frame must be the same text). Index keys come first in both objects whatever happens, so
 * only the other keys are compared.
 */
function diff(prev: Metadata, next: Metadata): { changes: Changes; move: boolean } | null {
  const changes: (readonly [string, string | null])[] = [];
  const prevKeys = Object.keys(prev);
  const nextKeys = Object.keys(next);
  for (const k of prevKeys) if (!Object.hasOwn(next, k)) changes.push([k, null]);
  for (const k of nextKeys) if (!Object.hasOwn(prev, k) || prev[k] !== next[k]) changes.push([k, next[k] as string]);
  if (sameOrderInPlace(prev, prevKeys, next, nextKeys)) return { changes, move: false };
  if (sameOrderMoved(prev, prevKeys, next, nextKeys)) return { changes, move: true };
  return null;
}

export interface EventLogOptions {
  /** Most events kept. */
  readonly capacity: number;
  /** Most bytes kept (see the module comment for what counts); the newest event is kept whatever its size. */
  readonly maxBytes: number;
}

/**
 * The last events as SSE frames, within `capacity` events and `maxBytes`. Ids are
 * "GENERATION-SEQ": a client that resumes with an id of another incarnation of this agent (it
 * restarted) is told so, as it is when its id has already left the buffer.
 */
export class EventLog {
  private readonly ring: Entry[] = [];
  /** Index of the oldest kept entry in `ring` (entries before it are gone; compacted now and then). */
  private start = 0;
  private seq = 0;
  private held = 0;
  private readonly members = new Map<string, MemberTrack>();
  readonly listeners = new Set<(frame: string) => void>();

  constructor(
    readonly epoch: number,
    private readonly options: EventLogOptions,
  ) {}

  get lastId(): string {
    return `${this.epoch}-${this.seq}`;
  }

  /** Events and bytes held now (the bytes as the bound counts them). */
  get size(): { events: number; bytes: number } {
    return { events: this.ring.length - this.start, bytes: this.held };
  }

  /** A membership event: its member (as of the event) under "node", its other fields beside. */
  add(e: MembershipEvent): void {
    const { type, node, ...rest } = e as MembershipEvent & Record<string, unknown>;
    const member = node as MemberInfo;
    const seq = ++this.seq;
    const text = this.serialise(seq, type, { node: { ...member, metadata: HOLE }, ...rest });
    const at = text.indexOf(HOLE_JSON);
    const head = text.slice(0, at + HOLE_JSON.length - JSON.stringify(HOLE).length);
    const tail = text.slice(at + HOLE_JSON.length);
    let track = this.members.get(member.id);
    if (!track)
      this.members.set(
        member.id,
        (track = {
          base: Object.create(null) as Metadata,
          ownBase: false,
          newest: Object.create(null) as Metadata,
          entries: 0,
        }),
      );
    const d = diff(track.newest, member.metadata);
    const kept = d?.changes ?? Object.entries(member.metadata);
    let bytes = ENTRY_OVERHEAD + utf8(head) + utf8(tail);
    for (const [k, v] of kept) bytes += utf8(k) + (v === null ? 0 : utf8(v));
    track.newest = member.metadata;
    track.entries++;
    this.push({
      seq,
      head,
      tail,
      member: member.id,
      changes: kept,
      ...(d ? (d.move ? { move: true } : {}) : { full: true }),
      ...(type === 'removed' ? { removed: true } : {}),
      bytes,
    });
    if (this.listeners.size > 0) {
      const frame = head + JSON.stringify(member.metadata) + tail;
      for (const l of this.listeners) l(frame);
    }
  }

  /** Any other event of the node (throttled, unthrottled, ...): its fields as they are. */
  addOther(type: string, fields: Readonly<Record<string, unknown>>): void {
    const seq = ++this.seq;
    const frame = this.serialise(seq, type, fields);
    this.push({ seq, head: frame, tail: '', bytes: ENTRY_OVERHEAD + utf8(frame) });
    for (const l of this.listeners) l(frame);
  }

  /** The frames after `lastId` ('start': all kept), led by a gap frame when some are lost. */
  since(lastId: string | null): string[] {
    if (lastId === null) return [];
    const oldest = this.ring[this.start]?.seq ?? this.seq + 1;
    if (lastId === 'start')
      return oldest > 1 ? [gapFrame(lastId, 'expired', oldest - 1), ...this.frames(oldest)] : this.frames(oldest);
    const m = /^(\d+)-(\d+)$/.exec(lastId);
    if (!m) return [gapFrame(lastId, 'unrecognised', null), ...this.frames(oldest)];
    if (Number(m[1]) !== this.epoch) return [gapFrame(lastId, 'restarted', null), ...this.frames(oldest)];
    const after = Number(m[2]);
    if (after > this.seq) return [gapFrame(lastId, 'unrecognised', null), ...this.frames(oldest)];
    if (after < oldest - 1) return [gapFrame(lastId, 'expired', oldest - 1 - after), ...this.frames(oldest)];
    return this.frames(after + 1);
  }

  private serialise(seq: number, type: string, fields: Readonly<Record<string, unknown>>): string {
    const id = `${this.epoch}-${seq}`;
    const data = JSON.stringify({ ...fields, id, type, time: new Date().toISOString() });
    return `id: ${id}\nevent: ${type}\ndata: ${data}\n\n`;
  }

  /** The kept frames from sequence number `from` on, each member's metadata rebuilt as of its event. */
  private frames(from: number): string[] {
    const current = new Map<string, Metadata>();
    const out: string[] = [];
    for (let i = this.start; i < this.ring.length; i++) {
      const e = this.ring[i] as Entry;
      if (e.member === undefined || e.changes === undefined) {
        if (e.seq >= from) out.push(e.head);
        continue;
      }
      const before = current.get(e.member) ?? (this.members.get(e.member) as MemberTrack).base;
      const metadata = applyChanges(before, e.changes, e.full === true, e.move === true);
      current.set(e.member, metadata);
      if (e.seq >= from) out.push(e.head + JSON.stringify(metadata) + e.tail);
    }
    return out;
  }

  private push(entry: Entry): void {
    this.ring.push(entry);
    this.held += entry.bytes;
    while (
      this.ring.length - this.start > 1 &&
      (this.ring.length - this.start > this.options.capacity || this.held > this.options.maxBytes)
    )
      this.evict();
    // Compact the array once the dropped prefix is as long as what is kept: amortised O(1) per event.
    if (this.start > 64 && this.start * 2 > this.ring.length) {
      this.ring.splice(0, this.start);
      this.start = 0;
    }
  }

  private evict(): void {
    const e = this.ring[this.start] as Entry;
    this.ring[this.start++] = undefined as unknown as Entry;
    this.held -= e.bytes;
    if (e.member === undefined || e.changes === undefined) return;
    const track = this.members.get(e.member) as MemberTrack;
    track.entries--;
    // A member with nothing left in the log needs no base: the next entry starts from `newest`,
    // and a member no longer in the view (it was removed) is forgotten altogether.
    if (track.entries === 0) {
      if (e.removed === true) this.members.delete(e.member);
      else {
        track.base = track.newest;
        track.ownBase = false;
      }
    } else if (e.full === true || !track.ownBase) {
      track.base = applyChanges(track.base, e.changes, e.full === true, e.move === true);
      track.ownBase = true;
    } else {
      // In place: a copy per event would be as much garbage as the frames this log no longer keeps.
      applyInPlace(track.base as Record<string, string>, e.changes, e.move === true);
    }
  }
}

/**
 * Tells a resuming client that events it has not seen are gone: it should reload the membership
 * (GET /members) before applying what follows. `missed` is a count when known.
 */
export function gapFrame(
  lastEventId: string,
  reason: 'expired' | 'restarted' | 'unrecognised',
  missed: number | null,
): string {
  const why = {
    expired: 'the events after this id have left the buffer',
    restarted: 'this id is from another incarnation of the agent (it restarted)',
    unrecognised: 'this id was never issued by this agent',
  }[reason];
  const message = `${why}: reload GET /members, then apply the events that follow`;
  return `event: gap\ndata: ${JSON.stringify({ lastEventId, reason, missed, message })}\n\n`;
}

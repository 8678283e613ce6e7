/**
 * The part of Liveness7.nextTickAt that walks collections, kept between the changes that can move it. The runtime
 * asks nextTickAt after every packet it receives (to move its timer sooner), and most packets change none of it:
 * the neighbours' deadlines move on a beat, the never-heard waits and the holds at a tick, and the records about
 * this node on an accepted report set. Each part counts its own changes (`changes`); a walk runs again only when
 * the tick it is measured from, this node's incarnation or one of those counts moved, so the answer is the one a
 * fresh walk gives, never later.
 */
import type { NeighbourWatch } from './neighbours.js';
import type { ReportBook } from './reports.js';
import type { ReturnHold } from './returns.js';
import type { UnheardNeighbours } from './unheard.js';

export class TickDue {
  /** watch.nextDeadline(last), and the tick and count it was walked at. */
  private deadline = Infinity;
  private deadlineLast = Number.NaN;
  private deadlineChanges = -1;
  /** The waits' instant (see waitsAt), and the tick, incarnation and counts it was walked at. */
  private waits = Infinity;
  private waitsLast = Number.NaN;
  private waitsIncarnation = -1;
  private unheardChanges = -1;
  private returnsChanges = -1;
  private bookChanges = -1;

  /**
   * The parts whose walks are kept, each Liveness7's own; `quarterMs`: a quarter interval, the pace of ticks while
   * something waits on no deadline of its own.
   */
  constructor(
    private readonly watch: NeighbourWatch,
    private readonly unheard: UnheardNeighbours,
    private readonly returns: ReturnHold,
    private readonly book: ReportBook,
    private readonly self: number,
    private readonly quarterMs: number,
  ) {}

  /**
   * The earliest of: a neighbour's silent or echo deadline at or after `last` (the last tick), a never-heard wait's
   * end after it, a returned member's or an accuser's hold's end; and `last` plus a quarter interval while a
   * never-heard neighbour is due (the census start rule) or a record names this node at `incarnation` (a refutation).
   */
  at(last: number, incarnation: number): number {
    const { watch, unheard, returns, book } = this;
    if (last !== this.deadlineLast || watch.changes !== this.deadlineChanges) {
      this.deadline = watch.nextDeadline(last);
      this.deadlineLast = last;
      this.deadlineChanges = watch.changes;
    }
    if (
      last !== this.waitsLast ||
      incarnation !== this.waitsIncarnation ||
      unheard.changes !== this.unheardChanges ||
      returns.changes !== this.returnsChanges ||
      book.changes !== this.bookChanges
    ) {
      this.waits = this.waitsAt(last, incarnation);
      this.waitsLast = last;
      this.waitsIncarnation = incarnation;
      this.unheardChanges = unheard.changes;
      this.returnsChanges = returns.changes;
      this.bookChanges = book.changes;
    }
    return Math.min(this.deadline, this.waits);
  }

  private waitsAt(last: number, incarnation: number): number {
    const { unheard, returns, book } = this;
    const work = unheard.due(last).length > 0 || book.aboutMe(this.self, incarnation);
    return Math.min(unheard.nextDue(last), returns.nextEnd(), work ? last + this.quarterMs : Infinity);
  }
}

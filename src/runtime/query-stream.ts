/**
 * The querier's side of one query as the application sees it: answers queued as they arrive and handed
 * to one async iteration, which ends at the query's end (timeout, abort, break or shutdown), and the
 * summary promise resolved then. The queue is bounded by the query itself: at most one ack and one
 * response per asked member.
 */
import type { QueryAnswer, QueryResponses, QuerySummary } from './api.js';
import { InvalidArgumentError } from '../errors.js';

export class QueryStream implements QueryResponses {
  readonly summary: Promise<QuerySummary>;
  private readonly queue: QueryAnswer[] = [];
  private waiter: ((r: IteratorResult<QueryAnswer>) => void) | null = null;
  private ended = false;
  private iterated = false;
  private resolveSummary!: (s: QuerySummary) => void;
  private readonly counts = { acks: 0, responses: 0, errors: 0 };

  /** `onStop`: the iteration was left early (a break): the query should end now. */
  constructor(private readonly onStop: () => void) {
    this.summary = new Promise((resolve) => (this.resolveSummary = resolve));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(answer: QueryAnswer): void {
    if (this.ended) return;
    if (answer.kind === 'ack') this.counts.acks++;
    else if (answer.kind === 'response') this.counts.responses++;
    else this.counts.errors++;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w({ value: answer, done: false });
    } else {
      this.queue.push(answer);
    }
  }

  /** Ends the query: the iteration ends once the queued answers are read; the summary resolves now. */
  end(asked: number, notAsked: number, elapsedMs: number): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveSummary({ asked, notAsked, ...this.counts, elapsedMs });
    const w = this.waiter;
    this.waiter = null;
    w?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<QueryAnswer> {
    if (this.iterated) throw new InvalidArgumentError('the answers of a query can be iterated once');
    this.iterated = true;
    return {
      next: () => {
        const answer = this.queue.shift();
        if (answer) return Promise.resolve({ value: answer, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        this.queue.length = 0;
        if (!this.ended) this.onStop();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

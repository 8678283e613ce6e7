/**
 * Timed callbacks for the seeded test networks (census-net.ts, liveness7-net.ts): the simulator's event heap,
 * so ties resolve in insertion order and a seed replays exactly.
 */
import { EventHeap, type Timed } from '../../src/sim/event-heap.js';

interface Callback extends Timed {
  readonly run: () => void;
}

export class TimedCallbacks {
  private readonly heap = new EventHeap<Callback>();
  private seq = 0;

  push(at: number, run: () => void): void {
    this.heap.push({ time: at, seq: this.seq++, run });
  }

  pop(): { at: number; run: () => void } | undefined {
    const e = this.heap.pop();
    return e && { at: e.time, run: e.run };
  }

  /** The time of the next callback (Infinity when none). */
  peek(): number {
    return this.heap.peek()?.time ?? Infinity;
  }
}

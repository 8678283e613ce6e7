/**
 * User events, the pure log (core/user-events.ts), in a seeded in-memory cluster: every message
 * goes through the real codec, the network loses packets and can be partitioned, and time is
 * virtual. Exactly-once delivery through loss and partitions shorter than the horizon, dedup,
 * coalescing, the sender's rate limit and the receivers' per-origin bound, and lying events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/core/random.js';
import type { Random } from '../../src/core/types.js';
import { UserEventLog, type UserEventLogConfig, type UserEventOutbound } from '../../src/core/user-events.js';
import { decodeAny, encodeAny } from '../../src/wire/any.js';
import { isUserEventMessage, type UserEventMessage, type WireUserEvent } from '../../src/wire/user-events.js';

const ROUND_MS = 200;
const LATENCY_MS = 2;
const HORIZON_MS = 30_000;

function config(i: number, overrides: Partial<UserEventLogConfig> = {}): UserEventLogConfig {
  return {
    clusterId: 'test',
    self: { id: `n${i}`, generation: 1 },
    maxPayloadBytes: 512,
    ratePerSecond: 50,
    burst: 100,
    horizonMs: HORIZON_MS,
    fanout: 3,
    payloadBudget: 1400,
    coalesceQuietMs: 100,
    coalesceMaxMs: 1000,
    ...overrides,
  };
}

interface Delivered {
  readonly at: number;
  readonly event: WireUserEvent;
}

interface Packet {
  readonly at: number;
  readonly from: number;
  readonly to: number;
  readonly bytes: Uint8Array;
}

/** N logs on a lossy network: rounds every ROUND_MS, an early push whenever a log has news, as the runtime does. */
class EventCluster {
  readonly logs: UserEventLog[];
  readonly delivered: Delivered[][];
  now = 0;
  loss = 0;
  /** Nodes cut off from the others (each side still talks within itself). */
  partitioned = new Set<number>();
  sentPackets = 0;
  private queue: Packet[] = [];
  private readonly rng: Random;

  constructor(
    readonly n: number,
    seed: number,
    overrides: Partial<UserEventLogConfig> = {},
  ) {
    this.rng = seededRandom(seed);
    this.logs = Array.from({ length: n }, (_, i) => new UserEventLog(config(i, overrides), seededRandom(seed + i), 0));
    this.delivered = Array.from({ length: n }, () => []);
  }

  address = (i: number): string => `10.0.0.${i}:9111`;

  peers(i: number): string[] {
    return Array.from({ length: this.n }, (_, j) => j)
      .filter((j) => j !== i)
      .map(this.address);
  }

  broadcast(i: number, name: string, coalesce = false, payload = `p${this.now}`): WireUserEvent {
    const r = this.logs[i]!.broadcast(name, new TextEncoder().encode(payload), coalesce, this.now);
    assert.ok(r.ok, `broadcast at n${i}: ${r.ok ? '' : r.detail}`);
    this.settle(i);
    return r.event;
  }

  /** Runs until `until`: rounds, packet deliveries, coalescer flushes. */
  run(until: number): void {
    let nextRound = Math.ceil((this.now + 1) / ROUND_MS) * ROUND_MS;
    while (this.now < until) {
      this.queue.sort((a, b) => a.at - b.at);
      const nextPacket = this.queue[0]?.at ?? Infinity;
      const nextFlush = Math.min(...this.logs.map((l) => l.nextFlushAt));
      const t = Math.min(nextRound, nextPacket, nextFlush, until);
      this.now = t;
      if (t === nextPacket) {
        const p = this.queue.shift()!;
        const m = decodeAny(p.bytes, 6);
        assert.ok(isUserEventMessage(m));
        this.send(p.to, this.logs[p.to]!.receive(this.address(p.from), m as UserEventMessage, t));
        this.settle(p.to);
      } else if (t === nextRound) {
        nextRound += ROUND_MS;
        for (let i = 0; i < this.n; i++) {
          this.send(i, this.logs[i]!.push(this.peers(i), t, true));
          this.settle(i);
        }
      } else {
        for (let i = 0; i < this.n; i++) this.collect(i);
      }
    }
  }

  /** What delivered events each node heard, as "origin@ltime" strings. */
  keys(i: number): string[] {
    return this.delivered[i]!.map((d) => `${d.event.origin}@${d.event.ltime}`);
  }

  private settle(i: number): void {
    if (this.logs[i]!.hasNews) this.send(i, this.logs[i]!.push(this.peers(i), this.now));
    this.collect(i);
  }

  private collect(i: number): void {
    for (const event of this.logs[i]!.takeDeliveries(this.now)) this.delivered[i]!.push({ at: this.now, event });
  }

  private send(from: number, out: readonly UserEventOutbound[]): void {
    for (const o of out) {
      const to = Number(o.to.split('.')[3]!.split(':')[0]);
      this.sentPackets++;
      if (this.partitioned.has(from) !== this.partitioned.has(to)) continue;
      if (this.rng.next() < this.loss) continue;
      this.queue.push({ at: this.now + LATENCY_MS, from, to, bytes: encodeAny(o.message, 6) });
    }
  }
}

test('20 members, 10 % and 30 % loss: every member delivers each event exactly once, origin included', () => {
  for (const loss of [0.1, 0.3]) {
    const c = new EventCluster(20, 11);
    c.loss = loss;
    const want: string[] = [];
    for (let k = 0; k < 40; k++) {
      const e = c.broadcast(k % 7, `e${k % 3}`);
      want.push(`${e.origin}@${e.ltime}`);
      c.run(c.now + 137);
    }
    c.run(c.now + 15_000);
    for (let i = 0; i < c.n; i++)
      assert.deepEqual([...c.keys(i)].sort(), [...want].sort(), `n${i} at ${loss * 100} % loss: each event once`);
    const dups = c.logs.reduce((s, l) => s + l.counts.duplicates, 0);
    assert.ok(dups > 0, 'the network did carry duplicates, and they were suppressed');
  }
});

test('with no loss, the first pushes reach most members within milliseconds, and the next round the rest', () => {
  const c = new EventCluster(50, 5);
  c.broadcast(0, 'deploy');
  c.run(c.now + 30);
  const early = c.delivered.filter((d) => d.length === 1).length;
  // Each member forwards a new event to 3 others at once: about e^-3 (5 %) of members are missed by chance.
  assert.ok(early >= 45, `reached ${early} of 50 within 30 ms, before any round`);
  c.run(ROUND_MS + 30);
  assert.equal(c.delivered.filter((d) => d.length === 1).length, 50, 'all 50 after one round');
});

test('a member cut off for 10 s (within the horizon) gets what it missed once it is back, once each; both sides keep broadcasting', () => {
  const c = new EventCluster(10, 21);
  c.loss = 0.05;
  c.run(1000);
  c.partitioned = new Set([0, 1]);
  const want: string[] = [];
  for (let k = 0; k < 10; k++) {
    const e = c.broadcast(k % 2 === 0 ? 0 : 5, 'during');
    want.push(`${e.origin}@${e.ltime}`);
    c.run(c.now + 700);
  }
  for (const i of [0, 1]) assert.ok(c.keys(i).length < want.length, 'the cut-off side missed some');
  c.partitioned = new Set();
  c.run(c.now + 10_000);
  for (let i = 0; i < c.n; i++) assert.deepEqual([...c.keys(i)].sort(), [...want].sort(), `n${i}`);
});

test('past the horizon nothing is held: a member cut off for longer never gets the old event, and gets the new ones', () => {
  const c = new EventCluster(6, 3);
  c.partitioned = new Set([5]);
  const old = c.broadcast(0, 'old');
  c.run(HORIZON_MS + 5000);
  assert.ok(
    c.logs.every((l) => !l.holding),
    'every member let the event go after the horizon',
  );
  c.partitioned = new Set();
  const fresh = c.broadcast(1, 'new');
  c.run(c.now + 5000);
  assert.deepEqual(c.keys(5), [`n1@${fresh.ltime}`], 'the old one is gone, the new one arrives');
  assert.ok(c.keys(4).includes(`n0@${old.ltime}`));
  // Quiet once nothing is held: no packet at all.
  const before = c.sentPackets;
  c.run(c.now + HORIZON_MS + 2000);
  const quietFrom = c.sentPackets;
  c.run(c.now + 10_000);
  assert.equal(
    c.sentPackets,
    quietFrom,
    `nothing sent once every event passed the horizon (${quietFrom - before} before)`,
  );
});

test('Lamport times: a receiver stamps its next event after every event it has seen, and each receiver sees the time', () => {
  const c = new EventCluster(4, 8);
  const a = c.broadcast(0, 'a');
  const b = c.broadcast(0, 'b');
  c.run(1000);
  const reply = c.broadcast(3, 'reply');
  assert.ok(reply.ltime > b.ltime && b.ltime > a.ltime, `${a.ltime} < ${b.ltime} < ${reply.ltime}`);
  c.run(2000);
  for (let i = 0; i < 4; i++)
    assert.deepEqual(
      c.delivered[i]!.map((d) => d.event.ltime),
      [a.ltime, b.ltime, reply.ltime],
    );
  assert.equal(c.logs[2]!.clock, reply.ltime, 'clocks witness what they hear');
  const restarted = new UserEventLog(config(9, { clock: 1000 }), seededRandom(1), 0);
  const r = restarted.broadcast('x', new Uint8Array(0), false, 0);
  assert.ok(r.ok && r.event.ltime === 1001, 'a configured clock is a floor');
});

test('coalescing: of a same-name burst only the newest is delivered, a straggler after it never; other names and non-coalescing events untouched', () => {
  const c = new EventCluster(5, 4);
  c.loss = 0.1;
  let last: WireUserEvent | null = null;
  for (let k = 0; k < 30; k++) last = c.broadcast(1, 'deploy', true, `v${k}`);
  const other = c.broadcast(2, 'restart', true, 'r');
  const plain = c.broadcast(3, 'deploy', false, 'plain');
  c.run(c.now + 10_000);
  for (let i = 0; i < c.n; i++) {
    const got = c.delivered[i]!.map((d) => `${d.event.name}:${new TextDecoder().decode(d.event.payload)}`);
    assert.deepEqual(got.sort(), ['deploy:plain', 'deploy:v29', 'restart:r'].sort(), `n${i}`);
  }
  assert.ok(
    c.logs.every((l) => l.counts.coalesced >= 29),
    'each member counts what it coalesced',
  );
  void last;
  void other;
  void plain;
  // A straggler: an older coalescing event arriving after the newest was delivered is dropped.
  const log = new UserEventLog(config(7), seededRandom(2), 0);
  const ev = (ltime: number): UserEventMessage => ({
    type: 'userEvents',
    clusterId: 'test',
    events: [
      { origin: 'n1', generation: 1, ltime, age: 0, name: 'deploy', payload: new Uint8Array(0), coalesce: true },
    ],
  });
  log.receive('a', ev(10), 0);
  assert.deepEqual(log.takeDeliveries(50), [], 'waits for the quiet period');
  assert.deepEqual(
    log.takeDeliveries(150).map((e) => e.ltime),
    [10],
  );
  log.receive('a', ev(9), 200);
  assert.deepEqual(log.takeDeliveries(2000), [], 'the straggler is not delivered');
  assert.equal(log.counts.coalesced, 1);
});

test('duplicates by (origin, generation, ltime): a replayed message delivers nothing; a restarted origin (new generation) is new', () => {
  const log = new UserEventLog(config(7), seededRandom(2), 0);
  const msg = (generation: number): UserEventMessage => ({
    type: 'userEvents',
    clusterId: 'test',
    events: [{ origin: 'n1', generation, ltime: 1, age: 3, name: 'x', payload: new Uint8Array([1]), coalesce: false }],
  });
  log.receive('a', msg(1), 0);
  log.receive('b', msg(1), 1);
  log.receive('a', msg(1), 2);
  assert.equal(log.takeDeliveries(3).length, 1);
  assert.equal(log.counts.duplicates, 2);
  log.receive('a', msg(2), 4);
  assert.equal(log.takeDeliveries(5).length, 1, 'the same time from a new incarnation is another event');
});

test("rate limits: the sender's bucket refuses past its burst and refills; a receiver takes at most twice that from one origin at once", () => {
  const log = new UserEventLog(config(0, { burst: 5, ratePerSecond: 2 }), seededRandom(1), 0);
  const results = Array.from({ length: 7 }, () => log.broadcast('x', new Uint8Array(0), false, 0));
  assert.deepEqual(
    results.map((r) => (r.ok ? 'ok' : r.reason)),
    ['ok', 'ok', 'ok', 'ok', 'ok', 'rate-limited', 'rate-limited'],
  );
  assert.ok(log.broadcast('x', new Uint8Array(0), false, 500).ok, 'a token back after 500 ms at 2/s');
  assert.deepEqual(
    [log.broadcast('', new Uint8Array(0), false, 10_000), log.broadcast('x', new Uint8Array(513), false, 10_000)].map(
      (r) => (r.ok ? 'ok' : r.reason),
    ),
    ['bad-name', 'too-large'],
  );
  assert.equal(log.counts.refused, 4);

  const receiver = new UserEventLog(config(1, { burst: 5, ratePerSecond: 2 }), seededRandom(1), 0);
  const flood: UserEventMessage = {
    type: 'userEvents',
    clusterId: 'test',
    events: Array.from({ length: 30 }, (_, k) => ({
      origin: 'n9',
      generation: 1,
      ltime: k + 1,
      age: 0,
      name: 'f',
      payload: new Uint8Array(0),
      coalesce: false,
    })),
  };
  receiver.receive('a', flood, 0);
  assert.equal(receiver.takeDeliveries(0).length, 10, 'twice the burst from one origin');
  assert.equal(receiver.counts.refused, 20);
  // Refused ones were not marked seen: pushed again later, they are taken as the allowance refills.
  receiver.receive('a', flood, 10_000);
  assert.equal(receiver.takeDeliveries(10_000).length, 10);
});

test('lying events are refused and counted, never delivered: another cluster, a time far past the clock, an age past the horizon, an oversized payload', () => {
  const log = new UserEventLog(config(1), seededRandom(1), 0);
  const base: WireUserEvent = {
    origin: 'n2',
    generation: 1,
    ltime: 5,
    age: 0,
    name: 'x',
    payload: new Uint8Array(0),
    coalesce: false,
  };
  const send = (e: Partial<WireUserEvent>, clusterId = 'test'): void =>
    void log.receive('a', { type: 'userEvents', clusterId, events: [{ ...base, ...e }] }, 0);
  send({}, 'other-cluster');
  send({ ltime: 2 ** 40 });
  send({ ltime: 0 });
  send({ ltime: 6, age: HORIZON_MS / 100 });
  send({ ltime: 7, payload: new Uint8Array(600) });
  send({ ltime: 8, origin: '' });
  assert.deepEqual(log.takeDeliveries(1000), []);
  assert.equal(log.counts.refused, 4);
  assert.equal(log.counts.expired, 1);
  assert.equal(log.clock, 0, 'no lie moved the clock');
  send({ ltime: 9 });
  assert.equal(log.takeDeliveries(1000).length, 1, 'a genuine event still goes through');
});

test('cost of one event: a few pushes per member, digests backing off to one round in 4 until the horizon, then nothing', () => {
  const c = new EventCluster(50, 13);
  c.loss = 0.1;
  c.broadcast(0, 'deploy', false, 'v1.2.3');
  c.run(HORIZON_MS + 2 * ROUND_MS);
  const perMember = c.sentPackets / c.n;
  const rounds = HORIZON_MS / ROUND_MS;
  assert.equal(c.delivered.filter((d) => d.length === 1).length, 50);
  // A digest each of the first 8 rounds, then one round in 4 on average; about 6 pushes.
  assert.ok(perMember <= 8 + rounds / 4 + 20, `${perMember.toFixed(1)} packets per member (${rounds} rounds)`);
  process.stdout.write(
    `# one event, 50 members, 10 % loss: ${perMember.toFixed(1)} packets per member over its life\n`,
  );
  const after = c.sentPackets;
  c.run(c.now + 10_000);
  assert.equal(c.sentPackets, after, 'nothing once the horizon passed');
});

test('an origin that is no known member is refused and not marked seen: once it is known, the same event is taken', () => {
  const known = new Set<string>();
  const log = new UserEventLog(
    config(1, { isMember: (id, generation) => known.has(`${id}/${generation}`) }),
    seededRandom(1),
    0,
  );
  const msg: UserEventMessage = {
    type: 'userEvents',
    clusterId: 'test',
    events: [{ origin: 'n5', generation: 3, ltime: 4, age: 0, name: 'x', payload: new Uint8Array(0), coalesce: false }],
  };
  log.receive('a', msg, 0);
  assert.deepEqual(log.takeDeliveries(0), []);
  assert.equal(log.counts.refused, 1);
  known.add('n5/2');
  log.receive('a', msg, 1);
  assert.equal(log.counts.refused, 2, 'another incarnation of the id is not enough');
  known.add('n5/3');
  log.receive('a', msg, 2);
  assert.equal(log.takeDeliveries(2).length, 1);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Gate,
  GATE_HOLD_MS,
  isReadyValue,
  parseGateValue,
  speaksGateProtocol,
  SWITCH_PERIOD_MS,
  type GateMode,
} from '../../src/core/gate.js';
import { BEAT_ECHO, BEAT_MODE_7 } from '../../src/wire/liveness-messages.js';

const HOLD = GATE_HOLD_MS;
const ROUND = 1_000;

/**
 * A model cluster for the gate alone: members by global index, each either an old (protocol-6) node, which
 * advertises nothing, or a protocol-7 node with its own Gate. Every round, each live protocol-7 node publishes
 * its ready value, then every one of them observes every member's values and liveness as they were published
 * (news reaches everyone within the round), then reads its mode.
 */
class Model {
  readonly members: { readonly version: 6 | 7; live: boolean; gate: Gate | null; ready: string }[] = [];
  fallbacks: { member: number; at: number }[] = [];
  now = 0;

  add(version: 6 | 7, live = true): number {
    const gate = version === 7 ? new Gate(this.now) : null;
    this.members.push({ version, live, gate, ready: '0' });
    return this.members.length - 1;
  }

  /** Member j's slot in member i's view: slot 0 is always the node itself. */
  static slot(i: number, j: number): number {
    return i === j ? 0 : j + 1;
  }

  round(): void {
    for (const m of this.members) if (m.live && m.gate) m.ready = m.gate.ownReady(this.now);
    this.members.forEach((m, i) => {
      if (!m.live || !m.gate) return;
      this.members.forEach((o, j) => {
        if (i === j) return;
        const slot = Model.slot(i, j);
        m.gate?.observe(slot, o.version === 7 ? '7' : undefined, o.version === 7 ? o.ready : undefined, this.now);
        m.gate?.setLive(slot, o.live, this.now);
      });
      const at = m.gate.takeFallback();
      if (at !== null) this.fallbacks.push({ member: i, at });
    });
  }

  modes(): GateMode[] {
    return this.members.filter((m) => m.live && m.gate).map((m) => (m.gate as Gate).mode(this.now));
  }

  /** Runs rounds until `until` (ms), calling `each` after every round. */
  runUntil(until: number, each: () => void = () => {}): void {
    while (this.now < until) {
      this.now += ROUND;
      this.round();
      each();
    }
  }
}

test('a rolling upgrade of 5 members, one every 10 s: mode 7 only after the last one plus the hold', () => {
  const m = new Model();
  for (let i = 0; i < 5; i++) m.add(6);
  m.round();
  let lastUpgrade = 0;
  let firstAllSeven: number | null = null;
  for (let k = 0; k < 5; k++) {
    m.runUntil(m.now + 10_000, () => {
      // Before the last old member is gone, no node is ready nor in mode 7.
      assert.ok(
        m.modes().every((x) => x === 6),
        `mode 7 at ${m.now} ms with an old member`,
      );
    });
    m.members[k]!.live = false; // old member k stops (SIGTERM)...
    m.add(7); // ...and comes back on the new release
    lastUpgrade = m.now;
    m.round();
  }
  m.runUntil(lastUpgrade + HOLD + 5_000, () => {
    const modes = m.modes();
    if (m.now < lastUpgrade + HOLD)
      assert.ok(
        modes.every((x) => x === 6),
        `mode 7 at ${m.now} ms, before the hold`,
      );
    if (firstAllSeven === null && modes.every((x) => x === 7)) firstAllSeven = m.now;
  });
  assert.ok(firstAllSeven !== null, 'the cluster never reached mode 7');
  // Ready at the end of the hold, mode 7 a round later (every ready value has to be heard).
  assert.ok(firstAllSeven <= lastUpgrade + HOLD + 2 * ROUND, `mode 7 only at ${firstAllSeven} ms`);
  assert.deepEqual(m.fallbacks, []);
  for (const x of m.members.filter((y) => y.live)) assert.equal(x.ready, '1');
});

test('an old member joining a mode-7 cluster: the node that hears of it falls back at once, the others within a round', () => {
  const m = new Model();
  for (let i = 0; i < 5; i++) m.add(7);
  m.runUntil(HOLD + 3_000);
  assert.deepEqual(m.modes(), [7, 7, 7, 7, 7]);
  // Member 0 alone hears of an old node (its introduction reached it first).
  const g0 = m.members[0]!.gate as Gate;
  const at = m.now + 123;
  g0.observe(99, undefined, undefined, at);
  g0.setLive(99, true, at);
  assert.equal(g0.mode(at), 6, 'still mode 7 with an old member live');
  assert.equal(g0.ownReady(at), '0');
  assert.equal(g0.takeFallback(), at, 'the fallback instant is the instant the old member was seen');
  assert.equal(g0.takeFallback(), null, 'a fallback is handed over once');
  m.members[0]!.ready = g0.ownReady(at);
  // The others have not heard of the old member, only of member 0's ready "0": they follow in the round.
  const others = m.members.slice(1).map((x) => x.gate as Gate);
  for (const [k, g] of others.entries()) {
    g.observe(Model.slot(k + 1, 0), '7', '0', at + 10);
    assert.equal(g.mode(at + 10), 6, `member ${k + 1} did not follow member 0's fallback`);
    assert.equal(g.takeFallback(), at + 10);
    assert.equal(g.ownReady(at + 10), '1', 'its own view has no old member: it stays ready');
  }
});

test('a dead old member does not hold the gate closed; an old member coming back closes it', () => {
  const m = new Model();
  for (let i = 0; i < 4; i++) m.add(7);
  const old = m.add(6, false); // known, but dead in every view
  m.runUntil(HOLD + 2_000);
  assert.deepEqual(m.modes(), [7, 7, 7, 7]);
  m.members[old]!.live = true;
  m.round();
  assert.deepEqual(m.modes(), [6, 6, 6, 6]);
  assert.equal(new Set(m.fallbacks.map((f) => f.member)).size, 4);
  assert.ok(m.fallbacks.every((f) => f.at === m.now));
});

test('values are parsed strictly: a malformed one counts as not speaking 7, not ready', () => {
  const speaking = ['7', '8', '10', '123456789012345'];
  const notSpeaking = [undefined, '', '6', '0', '07', ' 7', '7 ', '+7', '7.0', '1e1', '0x7', 'seven', '-7', '7\u0000'];
  notSpeaking.push('1234567890123456'); // 16 digits: past what is exact in a double
  for (const v of speaking) assert.equal(speaksGateProtocol(v), true, JSON.stringify(v));
  for (const v of notSpeaking) assert.equal(speaksGateProtocol(v), false, JSON.stringify(v));
  for (const v of ['1', '2', '41']) assert.equal(isReadyValue(v), true, v);
  for (const v of [undefined, '0', '00', '01', '-1', '', '1.5', 'yes']) assert.equal(isReadyValue(v), false, String(v));
  assert.equal(parseGateValue('0'), 0);
  assert.equal(parseGateValue('00'), -1);

  // In a gate: a member advertising "07" keeps it closed, "7" lets it open.
  const g = new Gate(0);
  g.observe(1, '07', '0', 0);
  g.setLive(1, true, 0);
  assert.equal(g.ownReady(HOLD * 3), '0');
  g.observe(1, '7', '0', HOLD * 3);
  assert.equal(g.ownReady(HOLD * 4 - 1), '0', 'opened before the hold since the value became valid');
  assert.equal(g.ownReady(HOLD * 4), '1');
  // A ready value that is not a plain integer is not ready: no mode 7.
  g.observe(1, '7', '1.0', HOLD * 4);
  assert.equal(g.mode(HOLD * 5), 6);
  g.observe(1, '7', '1', HOLD * 5);
  assert.equal(g.mode(HOLD * 5), 7);
});

test('a member flapping between dead and live (an old node) keeps the gate closed; it opens one hold after the last flap', () => {
  const g = new Gate(0);
  for (let s = 1; s <= 3; s++) g.observe(s, '7', '1', 0);
  for (let s = 1; s <= 3; s++) g.setLive(s, true, 0);
  g.observe(9, undefined, undefined, 0);
  let opened = 0;
  let last = '0';
  for (let t = 0; t < 120_000; t += 2_000) {
    g.setLive(9, (t / 2_000) % 2 === 0, t); // live for 2 s, dead for 2 s
    const r = g.ownReady(t + 1_999);
    if (r !== '0' && last === '0') opened++;
    last = r;
    assert.equal(g.mode(t + 1_999), 6);
  }
  assert.equal(opened, 0, 'the gate opened while the old member kept coming back');
  g.setLive(9, true, 120_000);
  g.setLive(9, false, 121_000);
  assert.equal(g.ownReady(121_000 + HOLD - 1), '0');
  assert.equal(g.ownReady(121_000 + HOLD), '2', 'the counter goes on from the adoption at the start');
  assert.equal(g.mode(121_000 + HOLD), 7);
});

test('a member whose ready value flaps makes this node fall back at most once per hold', () => {
  const g = new Gate(0);
  for (let s = 1; s <= 4; s++) {
    g.observe(s, '7', '1', 0);
    g.setLive(s, true, 0);
  }
  assert.equal(g.mode(HOLD), 7);
  const fallbacks: number[] = [];
  let switches = 0;
  let mode: GateMode = 7;
  for (let t = HOLD; t < HOLD + 200_000; t += 500) {
    g.observe(4, '7', (t / 500) % 2 === 0 ? '0' : '2', t); // ready one half second, not the next
    const at = g.takeFallback();
    if (at !== null) fallbacks.push(at);
    const next = g.mode(t + 250);
    if (next !== mode) switches++;
    mode = next;
  }
  assert.ok(fallbacks.length >= 2, `the flapping member was ignored (${fallbacks.length} fallbacks)`);
  for (let i = 1; i < fallbacks.length; i++)
    assert.ok(fallbacks[i]! - fallbacks[i - 1]! >= HOLD, `fallbacks ${fallbacks[i - 1]} and ${fallbacks[i]} ms`);
  assert.ok(switches <= 2 * Math.ceil(200_000 / HOLD) + 1, `${switches} switches in 200 s`);
  assert.equal(g.ownReady(HOLD + 200_000), '1', 'its own gate does not depend on the others being ready');
});

test('a restarted member adopts the open gate at once: the cluster stays in mode 7', () => {
  const m = new Model();
  for (let i = 0; i < 5; i++) m.add(7);
  m.runUntil(HOLD + 3_000);
  m.members[2]!.live = false; // restart: a new incarnation is a new member
  const fresh = m.add(7);
  m.round(); // the others hear of it, not ready yet; it hears that everyone else is ready
  const gate = m.members[fresh]!.gate as Gate;
  assert.equal(gate.ownReady(m.now), '1', 'the new incarnation did not adopt the open gate');
  m.round();
  assert.deepEqual(m.modes(), [7, 7, 7, 7, 7]);
  assert.deepEqual(m.fallbacks, [], 'a protocol-7 join made the cluster fall back');
});

test('a node that fell back does not adopt: it holds again', () => {
  const g = new Gate(0);
  g.observe(1, '7', '1', 0);
  g.setLive(1, true, 0);
  assert.equal(g.ownReady(0), '1', 'a joiner among ready members adopts');
  g.observe(2, undefined, undefined, 1_000);
  g.setLive(2, true, 1_000);
  assert.equal(g.ownReady(1_000), '0');
  g.setLive(2, false, 2_000);
  assert.equal(g.ownReady(2_000 + HOLD - 1), '0');
  assert.equal(g.ownReady(2_000 + HOLD), '2', 'the counter goes up each time the gate opens');
});

test('switch period: heartbeats to members not yet beating in mode 7, for 5 s, and to members not ready', () => {
  const g = new Gate(0);
  for (let s = 1; s <= 3; s++) {
    g.observe(s, '7', '0', 0);
    g.setLive(s, true, 0);
  }
  assert.equal(g.sendsHeartbeatsTo(1, 0), true, 'mode 6 sends heartbeats to everyone');
  const t = HOLD;
  for (let s = 1; s <= 3; s++) g.observe(s, '7', '1', t);
  assert.equal(g.mode(t), 7);
  g.observeBeat(1, BEAT_ECHO | BEAT_MODE_7);
  g.observeBeat(2, BEAT_ECHO);
  assert.equal(g.sendsHeartbeatsTo(1, t + 1), false, 'member 1 beats in mode 7');
  assert.equal(g.sendsHeartbeatsTo(2, t + 1), true, 'member 2 has not switched yet');
  assert.equal(g.sendsHeartbeatsTo(3, t + 1), true, 'member 3 never beat us: no evidence it switched');
  assert.equal(g.sendsHeartbeatsTo(2, t + SWITCH_PERIOD_MS - 1), true);
  assert.equal(g.sendsHeartbeatsTo(2, t + SWITCH_PERIOD_MS), false, 'still heartbeats after the switch period');
  // A joiner that has not opened its gate yet runs mode 6.
  g.observe(4, '7', '0', t + SWITCH_PERIOD_MS);
  g.setLive(4, true, t + SWITCH_PERIOD_MS);
  assert.equal(g.mode(t + SWITCH_PERIOD_MS), 7, 'a joiner not yet ready forced a fallback');
  assert.equal(g.sendsHeartbeatsTo(4, t + SWITCH_PERIOD_MS), true);
});

test('forget clears a slot: a new member there starts from nothing', () => {
  const g = new Gate(0);
  g.observe(1, '7', '1', 0);
  g.setLive(1, true, 0);
  assert.equal(g.mode(HOLD), 7);
  g.forget(1, HOLD + 1);
  // The slot's next member: not ready yet, never seen ready, so it is a joiner and forces no fallback.
  g.observe(1, '7', '0', HOLD + 2);
  g.setLive(1, true, HOLD + 2);
  assert.equal(g.mode(HOLD + 2), 7);
  assert.equal(g.takeFallback(), null);
  assert.deepEqual(g.status(HOLD + 2).notReady, 1);
});

test('property: never mode 7 (nor ready) while a live member lacks speaks >= 7; never back in mode 7 within a hold of a fallback', () => {
  const value = fc.constantFrom(undefined, '7', '8', '6', '07', '', '0', '1', '2', 'x');
  const op = fc.oneof(
    fc.record({ kind: fc.constant('observe' as const), slot: fc.integer({ min: 1, max: 6 }), s: value, r: value }),
    fc.record({ kind: fc.constant('live' as const), slot: fc.integer({ min: 1, max: 6 }), live: fc.boolean() }),
    fc.record({ kind: fc.constant('forget' as const), slot: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ kind: fc.constant('beat' as const), slot: fc.integer({ min: 1, max: 6 }), flags: fc.nat(31) }),
  );
  const step = fc.record({ op, dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 * HOLD })) });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
      const g = new Gate(0);
      const live = new Map<number, boolean>();
      const speaks = new Map<number, boolean>();
      let now = 0;
      let mode: GateMode = 6;
      let lastFallback = -Infinity;
      for (const { op, dt } of steps) {
        now += dt;
        if (op.kind === 'observe') {
          g.observe(op.slot, op.s, op.r, now);
          speaks.set(op.slot, op.s !== undefined && /^[1-9][0-9]*$/.test(op.s) && Number(op.s) >= 7);
        } else if (op.kind === 'live') {
          g.setLive(op.slot, op.live, now);
          live.set(op.slot, op.live);
        } else if (op.kind === 'forget') {
          g.forget(op.slot, now);
          live.delete(op.slot);
          speaks.delete(op.slot);
        } else g.observeBeat(op.slot, op.flags);
        const fb = g.takeFallback();
        if (fb !== null) lastFallback = fb;
        const allSpeak = [...live].every(([s, l]) => !l || speaks.get(s) === true);
        const next = g.mode(now);
        if (!allSpeak) {
          assert.equal(next, 6);
          assert.equal(g.ownReady(now), '0');
        }
        if (next === 7 && mode === 6) assert.ok(now - lastFallback >= HOLD, `back in mode 7 ${now - lastFallback} ms`);
        mode = next;
      }
    }),
    { numRuns: 2_000 },
  );
});

test('options are checked', () => {
  assert.throws(() => new Gate(0, { gateHoldMs: -1 }), { code: 'SB_ERR_INVALID_ARG' });
  assert.throws(() => new Gate(0, { switchPeriodMs: Number.NaN }), { code: 'SB_ERR_INVALID_ARG' });
  assert.throws(() => new Gate(0).observe(-1, '7', '0', 0), { code: 'SB_ERR_INVALID_ARG' });
});

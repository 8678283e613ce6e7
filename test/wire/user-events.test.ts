/**
 * The user event messages (protocol 6, types 7 and 8): any message round-trips and is sized
 * exactly; 20,000 mutations of valid ones (truncation, bit flips, lying counts and lengths) throw
 * only DecodeError, and what decodes never holds more items than the input had bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomInt, seededRandom } from '../../src/core/random.js';
import { decodeAny, encodeAny } from '../../src/wire/any.js';
import { DecodeError } from '../../src/wire/errors.js';
import {
  decodeUserEventMessage,
  encodeUserEventMessage,
  userEventMessageSize,
  type DigestGroup,
  type UserEventMessage,
  type WireUserEvent,
} from '../../src/wire/user-events.js';

const text = (max: number): fc.Arbitrary<string> => fc.string({ maxLength: max, unit: 'binary' });
const big = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const event: fc.Arbitrary<WireUserEvent> = fc.record({
  origin: text(40),
  generation: big,
  ltime: big,
  age: fc.integer({ min: 0, max: 100_000 }),
  name: text(30),
  payload: fc.uint8Array({ maxLength: 600 }),
  coalesce: fc.boolean(),
});

const group: fc.Arbitrary<DigestGroup> = fc
  .record({
    origin: text(40),
    generation: big,
    from: fc.integer({ min: 0, max: 2 ** 40 }),
    gaps: fc.array(fc.integer({ min: 0, max: 2 ** 20 }), { maxLength: 50 }),
  })
  .map(({ origin, generation, from, gaps }) => {
    const ltimes: number[] = [];
    let t = from - 1;
    for (const g of gaps) ltimes.push((t = t + 1 + g));
    return { origin, generation, from, ltimes };
  });

const message: fc.Arbitrary<UserEventMessage> = fc.oneof(
  fc.record({
    type: fc.constant('userEvents' as const),
    clusterId: text(20),
    events: fc.array(event, { maxLength: 8 }),
  }),
  fc.record({
    type: fc.constant('eventDigest' as const),
    clusterId: text(20),
    reply: fc.boolean(),
    allOrigins: fc.boolean(),
    groups: fc.array(group, { maxLength: 8 }),
  }),
);

test('every user event message round-trips, through the any-codec in protocol 6, sized exactly', () => {
  fc.assert(
    fc.property(message, (m) => {
      const bytes = encodeUserEventMessage(m);
      assert.equal(bytes.length, userEventMessageSize(m));
      // fast-check's records have no prototype; compared as plain data.
      const plain = structuredClone(m);
      assert.deepEqual(structuredClone(decodeUserEventMessage(bytes)), plain);
      assert.deepEqual(structuredClone(decodeAny(encodeAny(m, 6), 6)), plain);
    }),
    { numRuns: 2000 },
  );
});

test('protocol 5 and older can neither write nor read them', () => {
  const m: UserEventMessage = { type: 'userEvents', clusterId: 'c', events: [] };
  for (const v of [3, 4, 5] as const) {
    assert.throws(() => encodeAny(m, v), { code: 'SB_ERR_INVALID_ARG' });
    assert.throws(() => decodeAny(encodeUserEventMessage(m), v), { name: 'DecodeError', reason: 'bad-type' });
  }
});

test('names over 128 bytes, unknown flags and descending digest times are refused on both sides', () => {
  const e: WireUserEvent = {
    origin: 'a',
    generation: 1,
    ltime: 1,
    age: 0,
    name: 'x'.repeat(129),
    payload: new Uint8Array(0),
    coalesce: false,
  };
  assert.throws(() => encodeUserEventMessage({ type: 'userEvents', clusterId: 'c', events: [e] }), {
    code: 'SB_ERR_INVALID_ARG',
  });
  const ok = encodeUserEventMessage({ type: 'userEvents', clusterId: 'c', events: [{ ...e, name: 'x' }] });
  const flagged = Uint8Array.from(ok);
  flagged[4] = 2; // the event's flags byte: type, "c" (2 bytes), count, flags
  assert.throws(() => decodeUserEventMessage(flagged), { name: 'DecodeError', reason: 'bad-value' });
  // Written by hand: type 7, cluster "c", one event (flags 0, origin "a", generation 1, time 1, age 0) named 129 x's.
  const header = [7, 1, 0x63, 1, 0, 1, 0x61, 1, 1, 0];
  const named = (n: number): Uint8Array =>
    Uint8Array.from([...header, ...(n < 128 ? [n] : [0x80 | (n & 0x7f), n >> 7]), ...Array(n).fill(0x78), 0]);
  assert.equal(decodeUserEventMessage(named(128)).type, 'userEvents', 'the hand-written layout is right');
  assert.throws(() => decodeUserEventMessage(named(129)), { name: 'DecodeError', reason: 'too-large' });
  assert.throws(
    () =>
      encodeUserEventMessage({
        type: 'eventDigest',
        clusterId: 'c',
        reply: false,
        allOrigins: false,
        groups: [{ origin: 'a', generation: 1, from: 0, ltimes: [5, 4] }],
      }),
    { code: 'SB_ERR_INVALID_ARG' },
  );
});

/** Items and characters a decoded message holds: each must have cost at least one input byte. */
function weight(m: UserEventMessage): number {
  if (m.type === 'userEvents')
    return m.events.reduce((n, e) => n + 1 + e.origin.length + e.name.length + e.payload.length, m.clusterId.length);
  return m.groups.reduce((n, g) => n + 1 + g.origin.length + g.ltimes.length, m.clusterId.length);
}

test('20,000 mutated messages (cuts, flips, lying lengths and counts): only DecodeError, and no more items than bytes', () => {
  const rng = seededRandom(27);
  const samples = fc.sample(message, { numRuns: 200, seed: 27 }).map(encodeUserEventMessage);
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const base = samples[i % samples.length]!;
    let bytes = Uint8Array.from(base);
    switch (randomInt(rng, 4)) {
      case 0:
        bytes = bytes.subarray(0, randomInt(rng, bytes.length));
        break;
      case 1:
        for (let k = 0; k < 3 && bytes.length > 0; k++) bytes[randomInt(rng, bytes.length)]! ^= 1 << randomInt(rng, 8);
        break;
      case 2:
        // A length or count field made huge: a multi-byte varint where a byte was.
        if (bytes.length > 1) {
          const at = 1 + randomInt(rng, bytes.length - 1);
          bytes = Uint8Array.from([...bytes.subarray(0, at), 0xff, 0xff, 0xff, 0x7f, ...bytes.subarray(at + 1)]);
        }
        break;
      default:
        if (bytes.length > 0) bytes[randomInt(rng, bytes.length)] = randomInt(rng, 256);
    }
    try {
      const m = decodeUserEventMessage(bytes);
      assert.ok(weight(m) <= bytes.length * 4, 'no more than the input could hold');
    } catch (err) {
      assert.ok(err instanceof DecodeError, `only DecodeError escapes: ${String(err)}`);
      refused++;
    }
  }
  assert.ok(refused > 10_000, `most mutations are refused (${refused})`);
});

/**
 * The codec of protocol 6's query messages beyond the golden bytes (golden.test.ts reads and writes
 * v6-queries.hex as released): every field round-trips, and truncated, padded or lying bodies are
 * refused with a DecodeError naming why (a node counts it as `decode:<reason>` and drops the packet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DecodeError,
  decodeMessage,
  decodeQueryMessage,
  encodeQueryMessage,
  queryMessageSize,
} from '../../src/wire/codec.js';
import { seededRandom, randomInt } from '../../src/core/random.js';
import type { QueryMessage, QueryWireMessage } from '../../src/wire/query-messages.js';
import { MAX_QUERY_TIMEOUT_MS, MAX_RELAY_FACTOR } from '../../src/wire/query-messages.js';
import { queryCases, readPart } from './golden.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const refusedAs = (reason: string) => (e: unknown) => e instanceof DecodeError && e.reason === reason;
const readQueryFixture = (): Map<string, Uint8Array> => readPart(6, 'queries');

test('every golden query message reads back field for field, sized as stored', () => {
  const messages = new Map(queryCases());
  let n = 0;
  for (const [name, bytes] of readQueryFixture()) {
    if (name.startsWith('packet-')) continue;
    const m = decodeQueryMessage(bytes, 6);
    assert.deepEqual(m, messages.get(name), `${name}: every field read back`);
    assert.equal(queryMessageSize(m), bytes.length, `${name}: sized as stored`);
    n++;
  }
  assert.equal(n, messages.size);
});

test('a query writes its tags in key order, whatever the order they were given in', () => {
  const q = new Map(queryCases()).get('query-tags-payload-relay') as QueryMessage;
  const reordered = { ...q, tags: Object.fromEntries(Object.entries(q.tags).reverse()) };
  assert.equal(hex(encodeQueryMessage(reordered)), hex(encodeQueryMessage(q)));
  // A tag named __proto__ is a tag: it reads back as an own property, not as the object's prototype.
  const proto = { ...q, tags: JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string> };
  const back = decodeQueryMessage(encodeQueryMessage(proto)) as QueryMessage;
  assert.deepEqual(Object.entries(back.tags), [
    ['__proto__', 'x'],
    ['a', 'b'],
  ]);
  assert.equal(Object.getPrototypeOf(back.tags), Object.prototype);
});

test('a query body cut anywhere, or with bytes after it, is refused', () => {
  let cases = 0;
  for (const [name, bytes] of readQueryFixture()) {
    if (name.startsWith('packet-')) continue;
    for (let n = 0; n < bytes.length; n++) {
      // Cut inside the tags, the count promises more tags than the bytes left can hold: refused as too large.
      assert.throws(
        () => decodeQueryMessage(bytes.subarray(0, n)),
        (e: unknown) => e instanceof DecodeError && (e.reason === 'truncated' || e.reason === 'too-large'),
        `${name} cut at ${n}`,
      );
      cases++;
    }
    for (const tail of [[0], [0xff], [1, 2, 3]]) {
      assert.throws(
        () => decodeQueryMessage(Uint8Array.from([...bytes, ...tail])),
        refusedAs('trailing-bytes'),
        `${name} + ${tail.length}`,
      );
    }
  }
  assert.ok(cases > 300);
});

/** A query body with one field replaced: the fields are written in order, so build the bytes by hand. */
function lyingQuery(parts: {
  flags?: number;
  timeout?: number[];
  relay?: number;
  tags?: number[];
  name?: number[];
  payload?: number[];
}): Uint8Array {
  const str = (s: string) => [s.length, ...Buffer.from(s)];
  return Uint8Array.from([
    9,
    ...str('c'),
    ...str('o'),
    1, // generation
    5, // ltime
    parts.flags ?? 1,
    ...(parts.timeout ?? [0xe8, 0x07]), // 1000 ms
    parts.relay ?? 0,
    ...(parts.tags ?? [0]),
    ...(parts.name ?? str('q')),
    ...(parts.payload ?? [0]),
  ]);
}

test('a lying query, ack or response is refused with its reason, never read past its end', () => {
  assert.equal((decodeQueryMessage(lyingQuery({})) as QueryMessage).timeoutMs, 1000, 'the honest one decodes');
  const str = (s: string) => [s.length, ...Buffer.from(s)];
  const cases: [string, Uint8Array, string][] = [
    ['unknown query flag', lyingQuery({ flags: 2 }), 'bad-value'],
    ['zero timeout', lyingQuery({ timeout: [0] }), 'bad-value'],
    ['timeout over the maximum', lyingQuery({ timeout: [0xc1, 0xcf, 0x24] }), 'bad-value'],
    ['relay factor over the maximum', lyingQuery({ relay: MAX_RELAY_FACTOR + 1 }), 'bad-value'],
    ['a million tags in a few bytes', lyingQuery({ tags: [0xc0, 0x84, 0x3d] }), 'too-large'],
    [
      '33 tags',
      lyingQuery({ tags: [33, ...Array.from({ length: 33 }, (_, i) => [...str(`k${i + 10}`), 0]).flat()] }),
      'too-large',
    ],
    ['tags out of order', lyingQuery({ tags: [2, ...str('b'), 0, ...str('a'), 0] }), 'bad-value'],
    ['a tag given twice', lyingQuery({ tags: [2, ...str('a'), 0, ...str('a'), 0] }), 'bad-value'],
    ['empty name', lyingQuery({ name: [0] }), 'bad-value'],
    ['name of 129 bytes', lyingQuery({ name: [0x81, 0x01, ...Array<number>(129).fill(0x61)] }), 'bad-value'],
    ['name not UTF-8', lyingQuery({ name: [1, 0xff] }), 'bad-utf8'],
    ['payload longer than the packet', lyingQuery({ payload: [10, 1, 2] }), 'truncated'],
    ['payload length of 2^40', lyingQuery({ payload: [0x80, 0x80, 0x80, 0x80, 0x80, 0x20] }), 'truncated'],
    ['an ack with flag 4', Uint8Array.from([10, ...str('c'), ...str('o'), 5, ...str('r'), 4]), 'bad-value'],
    ['a response with flag 4', Uint8Array.from([11, ...str('c'), ...str('o'), 5, ...str('r'), 4, 0]), 'bad-value'],
    [
      'an error that is not UTF-8',
      Uint8Array.from([11, ...str('c'), ...str('o'), 5, ...str('r'), 2, 2, 0xc3, 0x28]),
      'bad-utf8',
    ],
    ['a gossip type code', Uint8Array.from([1, ...str('c')]), 'bad-type'],
  ];
  for (const [what, body, reason] of cases) assert.throws(() => decodeQueryMessage(body), refusedAs(reason), what);
});

test('protocol 5 has no queries: neither written nor read in it, nor by the gossip decoder', () => {
  const [, q] = queryCases()[0]!;
  const body = encodeQueryMessage(q, 6);
  assert.throws(() => encodeQueryMessage(q, 5), { code: 'SB_ERR_INVALID_ARG', message: /protocol 5 has no queries/ });
  assert.throws(() => decodeQueryMessage(body, 5), refusedAs('bad-type'));
  // A node of the previous release hands the body to its one decoder: an unknown type, dropped and counted.
  assert.throws(() => decodeMessage(body, 5), refusedAs('bad-type'));
});

test('the encoder refuses a query the wire cannot carry', () => {
  const q = queryCases()[0]![1] as QueryMessage;
  for (const bad of [
    { ...q, name: '' },
    { ...q, name: 'x'.repeat(129) },
    { ...q, timeoutMs: 0 },
    { ...q, timeoutMs: MAX_QUERY_TIMEOUT_MS + 1 },
    { ...q, relayFactor: MAX_RELAY_FACTOR + 1 },
    { ...q, tags: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) },
  ])
    assert.throws(() => encodeQueryMessage(bad), { code: 'SB_ERR_INVALID_ARG' });
});

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const answerFields = fc.record({
  clusterId: text,
  origin: text,
  ltime: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  from: text,
  relay: fc.boolean(),
});
const queryMessage: fc.Arbitrary<QueryWireMessage> = fc.oneof(
  fc.record({
    type: fc.constant('query' as const),
    clusterId: text,
    origin: text,
    generation: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    ltime: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    ack: fc.boolean(),
    timeoutMs: fc.integer({ min: 1, max: MAX_QUERY_TIMEOUT_MS }),
    relayFactor: fc.integer({ min: 0, max: MAX_RELAY_FACTOR }),
    tags: fc.dictionary(text, text, { maxKeys: 5 }),
    name: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
    payload: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.tuple(answerFields, fc.boolean()).map(([a, responds]) => ({ type: 'queryAck' as const, ...a, responds })),
  fc
    .tuple(answerFields, fc.uint8Array({ maxLength: 64 }), fc.option(text, { nil: undefined }))
    .map(([a, payload, error]) => ({
      type: 'queryResponse' as const,
      ...a,
      error: error !== undefined,
      payload: error !== undefined ? new TextEncoder().encode(error) : payload,
    })),
);

test('property: every query message round-trips through the codec, at the size it was given', () => {
  fc.assert(
    fc.property(queryMessage, (m) => {
      const bytes = encodeQueryMessage(m);
      assert.equal(bytes.length, queryMessageSize(m));
      const back = decodeQueryMessage(bytes);
      if (m.type === 'query' && back.type === 'query')
        assert.deepEqual({ ...back, tags: { ...back.tags } }, { ...m, tags: { ...m.tags } });
      else assert.deepEqual(back, m);
    }),
    { numRuns: 2000, seed: 27 },
  );
});

test('20,000 mutated query bodies: only DecodeError escapes the decoder', () => {
  const rng = seededRandom(2706);
  const seeds = [...readQueryFixture()].filter(([n]) => !n.startsWith('packet-')).map(([, b]) => b);
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const input = Uint8Array.from(seeds[randomInt(rng, seeds.length)]!);
    for (let k = 1 + randomInt(rng, 3); k > 0; k--) input[randomInt(rng, input.length)] = randomInt(rng, 256);
    try {
      decodeQueryMessage(input);
      decoded++;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw new Error(`case ${i}: ${String(err)} escaped`, { cause: err });
    }
  }
  assert.ok(decoded > 100, `${decoded} mutants still decoded`);
});

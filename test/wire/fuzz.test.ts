/**
 * 100,000 hostile inputs: random bytes, and mutations of valid messages (bit flips, byte changes,
 * truncation, insertion, duplicated spans, huge length fields). Only DecodeError may escape, and a
 * decoded message never holds more items or characters than the input had bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRandom, randomInt } from '../../src/core/random.js';
import { DecodeError, decodeMessage, encodeMessage } from '../../src/wire/codec.js';
import type { Message } from '../../src/wire/messages.js';
import { message } from './arbitraries.js';

const CASES = 100_000;
const REASONS = new Set([
  'truncated',
  'bad-type',
  'bad-varint',
  'bad-utf8',
  'too-large',
  'bad-value',
  'trailing-bytes',
]);

/** Items and string characters in a decoded message: each costs at least one input byte. */
function weight(m: Message): number {
  let n = 0;
  const str = (s: string) => (n += s.length);
  if ('clusterId' in m) str(m.clusterId);
  const digest = (d: { count: number }) => (n += d.count);
  const delta = (d: Extract<Message, { type: 'ack' }>['delta']) => {
    n += d.bumps.count;
    for (const nd of d.nodes) {
      n += 1 + nd.values.length;
      if (nd.identity) str(nd.identity.id + nd.identity.address);
      n += nd.commitment?.length ?? 0;
      for (const v of nd.values) str(v.key + v.value);
    }
  };
  if (m.type === 'syn') digest(m.digest);
  if (m.type === 'synAck') {
    digest(m.request);
    delta(m.delta);
  }
  if (m.type === 'ack') delta(m.delta);
  if (m.type === 'leave') {
    str(m.identity.id + m.identity.address);
    n += m.proof?.length ?? 0;
  }
  return n;
}

test(`${CASES} random and mutated inputs: only typed errors, bounded output`, () => {
  const rng = seededRandom(1125);
  const seeds = fc.sample(message, { numRuns: 300, seed: 7 }).map((m) => encodeMessage(m));
  const reasons = new Map<string, number>();
  let decoded = 0;
  for (let i = 0; i < CASES; i++) {
    let input: Uint8Array;
    const kind = randomInt(rng, 6);
    if (kind === 0) {
      input = new Uint8Array(randomInt(rng, 200));
      for (let k = 0; k < input.length; k++) input[k] = randomInt(rng, 256);
    } else {
      const base = seeds[randomInt(rng, seeds.length)] as Uint8Array;
      input = Uint8Array.from(base);
      if (kind === 1 && input.length > 0) {
        const at = randomInt(rng, input.length);
        input[at] = (input[at] as number) ^ (1 << randomInt(rng, 8));
      }
      if (kind === 2 && input.length > 0)
        for (let k = 0; k < 4; k++) input[randomInt(rng, input.length)] = randomInt(rng, 256);
      if (kind === 3) input = input.subarray(0, randomInt(rng, input.length + 1));
      if (kind === 4) {
        const at = randomInt(rng, input.length + 1);
        const span = input.subarray(at, at + randomInt(rng, 16));
        input = Uint8Array.from([...input.subarray(0, at), ...span, ...span, ...input.subarray(at)]);
      }
      if (kind === 5 && input.length > 2) {
        // A length or count field blown up: a varint of 2^40 written over the bytes after a random point.
        const at = 1 + randomInt(rng, input.length - 1);
        input.set([0x80, 0x80, 0x80, 0x80, 0x80, 0x20].slice(0, input.length - at), at);
      }
    }
    try {
      const m = decodeMessage(input);
      decoded++;
      assert.ok(
        weight(m) <= input.length,
        `a ${input.length}-byte input decoded into ${weight(m)} items and characters`,
      );
    } catch (err) {
      if (!(err instanceof DecodeError) || !REASONS.has(err.reason))
        throw new Error(`case ${i}: ${String(err)} escaped the decoder`, { cause: err });
      reasons.set(err.reason, (reasons.get(err.reason) ?? 0) + 1);
    }
  }
  // The mix exercised every way of failing, and many mutants still decoded (they must then be bounded).
  for (const r of ['truncated', 'bad-type', 'bad-varint', 'too-large', 'bad-value', 'trailing-bytes'])
    assert.ok((reasons.get(r) ?? 0) > 0, `reason ${r} seen`);
  assert.ok(decoded > 1000, `${decoded} mutants decoded`);
});

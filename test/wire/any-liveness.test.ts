/**
 * Protocol 7's liveness messages through the any-codec (wire/any.ts), the one the runtime's packet path and the
 * simulator use: written and read only in a version that carries them, refused in every older one as a reader of that
 * version finds them (an unknown type), and sized as the codec writes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreMessageBytes, decodeAny, encodeAny, isLivenessCode } from '../../src/wire/any.js';
import { decodeMessage, encodeMessage, MIN_PROTOCOL_VERSION, type ProtocolVersion } from '../../src/wire/codec.js';
import { encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import { isLivenessMessage, LIVENESS_TYPE_CODES } from '../../src/wire/liveness-messages.js';
import { carriesLiveness, PROTOCOL_VERSION } from '../../src/wire/protocol.js';
import { messageCases, readFixture } from './golden.js';
import { livenessCases } from './liveness-golden.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Every version this code speaks that has no liveness messages. */
const OLDER: ProtocolVersion[] = [];
for (let v = MIN_PROTOCOL_VERSION; v <= PROTOCOL_VERSION; v++)
  if (!carriesLiveness(v as ProtocolVersion)) OLDER.push(v as ProtocolVersion);

test('a liveness message is refused by the encoder in every version before 7: it would be dropped as unknown', () => {
  assert.ok(OLDER.includes(6), 'protocol 6 carries no liveness message');
  for (const [name, m] of livenessCases())
    for (const v of OLDER)
      assert.throws(() => encodeAny(m, v), { code: 'SB_ERR_INVALID_ARG' }, `${name} written in protocol ${v}`);
});

test("a liveness body read in a version before 7 is 'bad-type', every code from 12 to 21", () => {
  const seen = new Set<number>();
  for (const [name, m] of livenessCases()) {
    const body = encodeLivenessMessage(m);
    seen.add(body[0] as number);
    for (const v of OLDER)
      assert.throws(() => decodeAny(body, v), { name: 'DecodeError', reason: 'bad-type' }, `${name} read in ${v}`);
  }
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    Object.values(LIVENESS_TYPE_CODES).sort((a, b) => a - b),
    'every liveness code is tried',
  );
  for (let code = 0; code < 256; code++)
    assert.equal(isLivenessCode(code), code >= 12 && code <= 21, `code ${code} is a liveness code or not`);
});

test('liveness messages are told from the membership messages by type, and sized as the codec writes them', () => {
  for (const [name, m] of livenessCases()) {
    assert.ok(isLivenessMessage(m), name);
    assert.equal(coreMessageBytes(m), encodeLivenessMessage(m).length, `${name}: sized as written`);
  }
  for (const [name, m] of messageCases(PROTOCOL_VERSION)) {
    assert.ok(!isLivenessMessage(m), name);
    assert.equal(coreMessageBytes(m), encodeMessage(m).length, `${name}: sized as written`);
    assert.equal(hex(encodeAny(m)), hex(encodeMessage(m)), `${name}: the any-codec writes it as the codec does`);
    assert.deepEqual(decodeAny(encodeMessage(m)), decodeMessage(encodeMessage(m)), `${name}: and reads it so`);
  }
});

test('in protocol 7 the any-codec writes and reads every liveness message as the liveness codec does (v7-liveness.hex)', () => {
  assert.ok(carriesLiveness(PROTOCOL_VERSION), 'the newest version carries them');
  const cases = new Map(livenessCases());
  const stored = readFixture(7, 'liveness');
  assert.deepEqual([...stored.keys()], [...cases.keys()]);
  for (const [name, bytes] of stored) {
    assert.equal(hex(encodeAny(cases.get(name)!, 7)), hex(bytes), `${name}: written in 7`);
    const m = decodeAny(bytes, 7);
    assert.ok(isLivenessMessage(m), `${name}: read as a liveness message`);
    assert.equal(hex(encodeAny(m, 7)), hex(bytes), `${name}: read in 7 and written back`);
  }
});

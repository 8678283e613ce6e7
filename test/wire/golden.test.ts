import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  decodeMessage,
  encodeMessage,
  messageSize,
  MIN_PROTOCOL_VERSION,
  type ProtocolVersion,
} from '../../src/wire/codec.js';
import { openPacket } from '../../src/transport/envelope.js';
import { decodeAny, encodeAny } from '../../src/wire/any.js';
import {
  encodeAll,
  encodePart,
  fixtureParts,
  fixturePath,
  partMessageCases,
  partPacketCases,
  readPart,
  messageCases,
  packetCases,
  readFixture,
  sealCase,
  spokenParts,
  supportedVersions,
} from './golden.js';
import type { Message } from '../../src/wire/messages.js';
import { DecodeError } from '../../src/wire/errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

for (const version of supportedVersions()) {
  test(`protocol ${version}: the golden fixtures decode, re-encode to the same bytes, and the codec still writes them`, () => {
    assert.ok(
      existsSync(fixturePath(version)),
      `no golden fixture for protocol ${version}: node dist/test/wire/write-fixtures.js --new ${version}`,
    );
    const stored = readFixture(version);
    const current = encodeAll(version);
    assert.deepEqual(
      [...stored.keys()].sort(),
      [...current.keys()].sort(),
      `the fixture's cases are the case set of protocol ${version}`,
    );
    const messages = new Map(messageCases(version));
    for (const [name, bytes] of stored) {
      if (name.startsWith('packet-')) continue;
      const m = decodeMessage(bytes, version);
      assert.equal(messageSize(m, version), bytes.length, `${name}: sized as stored`);
      assert.equal(hex(encodeMessage(m, version)), hex(bytes), `${name}: decoded and re-encoded, the same bytes`);
      assert.equal(
        hex(encodeMessage(messages.get(name)!, version)),
        hex(bytes),
        `${name}: the codec writes protocol ${version}'s bytes as released`,
      );
    }
    for (const c of packetCases(version)) {
      const packet = stored.get(c.name)!;
      const opened = openPacket(packet, c.options);
      assert.equal(opened.version, version, `${c.name}: its version`);
      assert.equal(hex(opened.body), hex(c.body), `${c.name}: opens to its body`);
      assert.equal(
        hex(encodeMessage(decodeMessage(opened.body, version), version)),
        hex(c.body),
        `${c.name}: the body decodes`,
      );
      if (c.reproducible)
        assert.equal(hex(sealCase(c, version)), hex(packet), `${c.name}: sealed again, the same bytes`);
    }
  });
}

for (const version of supportedVersions()) {
  for (const part of fixtureParts(version)) {
    test(`protocol ${version} (${part}): the part's golden fixture decodes, re-encodes to the same bytes, and the codec still writes them`, () => {
      assert.ok(
        existsSync(fixturePath(version, part)),
        `no golden fixture: node dist/test/wire/write-fixtures.js --new ${version} --part ${part}`,
      );
      const stored = readPart(version, part);
      const current = encodePart(version, part);
      assert.deepEqual([...stored.keys()].sort(), [...current.keys()].sort(), 'the case set');
      const messages = new Map(partMessageCases(version, part));
      for (const [name, bytes] of stored) {
        if (name.startsWith('packet-')) continue;
        const m = decodeAny(bytes, version);
        assert.equal(hex(encodeAny(m, version)), hex(bytes), `${name}: decoded and re-encoded, the same bytes`);
        assert.equal(hex(encodeAny(messages.get(name)!, version)), hex(bytes), `${name}: written as released`);
        // Bounds-checked: every cut of the body is refused with a DecodeError, never read past its end.
        for (let n = 0; n < bytes.length; n++)
          assert.throws(() => decodeAny(bytes.subarray(0, n), version), DecodeError, `${name} cut to ${n} bytes`);
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        assert.throws(() => decodeAny(longer, version), { reason: 'trailing-bytes' }, `${name} with a byte after it`);
        // A reader of an older version knows no such message: it drops it as of an unknown type.
        for (let older = MIN_PROTOCOL_VERSION; older < version; older++)
          assert.throws(
            () => decodeAny(bytes, older as ProtocolVersion),
            { reason: 'bad-type' },
            `${name} in ${older}`,
          );
      }
      for (const c of partPacketCases(version, part)) {
        const opened = openPacket(stored.get(c.name)!, c.options);
        assert.equal(opened.version, version, `${c.name}: its version`);
        assert.equal(hex(opened.body), hex(c.body), `${c.name}: opens to its body`);
        assert.equal(hex(sealCase(c, version)), hex(stored.get(c.name)!), `${c.name}: sealed again, the same bytes`);
      }
    });
  }
}

for (const later of supportedVersions()) {
  for (const part of spokenParts(later)) {
    const since = supportedVersions().find((v) => fixtureParts(v).includes(part))!;
    if (since === later) continue;
    test(`protocol ${later} (${part}): written and read byte for byte as in protocol ${since}'s fixture`, () => {
      const messages = new Map(partMessageCases(later, part));
      let bodies = 0;
      for (const [name, bytes] of readPart(since, part)) {
        if (name.startsWith('packet-')) continue;
        assert.equal(hex(encodeAny(messages.get(name)!, later)), hex(bytes), `${name}: written in ${later}`);
        assert.equal(hex(encodeAny(decodeAny(bytes, later), later)), hex(bytes), `${name}: read in ${later}`);
        bodies++;
      }
      assert.equal(bodies, messages.size, 'every case of the part');
    });
  }
}

test("protocol 7 writes protocol 6's messages as 6 does: v7.hex holds v6.hex's bodies, its packets differ in the version", () => {
  const v6 = readFixture(6);
  const v7 = readFixture(7);
  assert.deepEqual([...v7.keys()], [...v6.keys()], 'the same cases, in the same order');
  const packets = new Map(packetCases(7).map((c) => [c.name, c]));
  for (const [name, bytes] of v7) {
    const old = v6.get(name)!;
    const c = packets.get(name);
    if (!c) {
      assert.equal(hex(bytes), hex(old), `${name}: the same body`);
      continue;
    }
    const [seven, six] = [openPacket(bytes, c.options), openPacket(old, c.options)];
    assert.deepEqual([seven.version, six.version], [7, 6], `${name}: the envelope's version`);
    assert.equal(hex(seven.body), hex(six.body), `${name}: the same body inside`);
    // Unsealed and uncompressed, byte 2 (the version) is the only difference; under a key the header is
    // authenticated, so the tag differs too.
    if (c.options.keys.length === 0 && !c.options.compress)
      assert.deepEqual(
        [...bytes].flatMap((b, i) => (b === old[i] ? [] : [i])),
        [2],
        `${name}: only the version byte differs`,
      );
  }
});

/** Longest trailing run tried: every length up to it, past any one-byte or one-varint slack a decoder might allow. */
const MAX_TRAILING = 24;

/** n bytes after a message: zeros, 0xff, and a pattern that is neither (zero could read as an empty field). */
function trailing(n: number, fill: 'zero' | 'ones' | 'mixed'): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (fill === 'zero' ? 0 : fill === 'ones' ? 0xff : (i * 37 + 1) & 0xff));
}

for (const version of supportedVersions()) {
  test(`protocol ${version}: a golden body with 1..${MAX_TRAILING} bytes after it is refused as trailing bytes (the fixture's stored length is the message's end)`, () => {
    let cases = 0;
    for (const [name, bytes] of readFixture(version)) {
      if (name.startsWith('packet-')) continue;
      for (let n = 1; n <= MAX_TRAILING; n++) {
        for (const fill of ['zero', 'ones', 'mixed'] as const) {
          const longer = new Uint8Array(bytes.length + n);
          longer.set(bytes);
          longer.set(trailing(n, fill), bytes.length);
          assert.throws(
            () => decodeMessage(longer, version),
            (e: unknown) => e instanceof DecodeError && e.reason === 'trailing-bytes',
            `${name} (${bytes.length} bytes) with ${n} ${fill} bytes after it`,
          );
          cases++;
        }
      }
    }
    assert.ok(cases > 0);
  });
}

test('a version without low-bit heartbeats cannot read nor write them', () => {
  const low = new Map(messageCases(4)).get('syn-compact-low-own')!;
  assert.throws(() => encodeMessage(low, 3), {
    code: 'SB_ERR_INVALID_ARG',
    message: /protocol 3 has no low-bit heartbeats/,
  });
  const bytes = readFixture(4).get('syn-compact-low-own')!;
  assert.throws(() => decodeMessage(bytes, 3), {
    name: 'DecodeError',
    code: 'SB_ERR_DECODE',
    message: /digest flags .* \(protocol 3\)/,
  });
  const bumps = readFixture(4).get('synack-positional-low-bumps')!;
  assert.throws(() => decodeMessage(bumps, 3), {
    name: 'DecodeError',
    code: 'SB_ERR_DECODE',
    message: /bump flags .* \(protocol 3\)/,
  });
});

test("protocol 3 bodies are the previous release's: the cases both versions share have the same body bytes", () => {
  const v3 = readFixture(3);
  const v4 = readFixture(4);
  for (const [name, bytes] of v3) if (!name.startsWith('packet-')) assert.equal(hex(bytes), hex(v4.get(name)!), name);
});

test('protocol-5 rates are left out in protocol 4 and 3 (an older reader sees the message it always did), and read back in 5', () => {
  const withRates = new Map(messageCases(5));
  for (const name of ['syn-full-rates', 'synack-request-rates']) {
    const m = withRates.get(name) as Message;
    const { rates: _rates, ...bare } = m as Message & { rates?: unknown };
    for (const v of [3, 4] as const)
      assert.deepEqual(encodeMessage(m, v), encodeMessage(bare as Message, v), `${name} in protocol ${v}`);
    const back = decodeMessage(encodeMessage(m, 5), 5) as Message & { rates?: { allowed: number; desired: number } };
    assert.ok(
      back.rates && Math.abs(back.rates.allowed - (m as { rates: { allowed: number } }).rates.allowed) < 0.051,
      `${name} reads back its rates`,
    );
    // An older reader refuses the flag outright, so a v5 body can never pass for a v4 one.
    assert.throws(() => decodeMessage(encodeMessage(m, 5), 4), { code: 'SB_ERR_DECODE', reason: 'bad-value' });
  }
});

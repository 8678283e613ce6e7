import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerVersions } from '../../src/transport/negotiation.js';
import {
  carriesLiveness,
  carriesUserEvents,
  MIN_PROTOCOL_VERSION as OLDEST,
  PROTOCOL_VERSION as NEWEST,
  type ProtocolVersion,
} from '../../src/wire/codec.js';

/** The version of the previous release: the newest it spoke. */
const PREVIOUS = (NEWEST - 1) as ProtocolVersion;

test('a peer never heard from is tried in the newest version twice, then in the oldest, in turn', () => {
  const v = new PeerVersions({ probeIntervalMs: 10_000 });
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((t) => v.initiate('a:1', t)),
    [NEWEST, NEWEST, OLDEST, NEWEST, NEWEST, OLDEST],
  );
  assert.equal(v.speaks('a:1'), undefined);
});

test('a peer heard in the newest version is written to in it, whatever it is also heard in', () => {
  const v = new PeerVersions({ probeIntervalMs: 10_000 });
  v.heard('a:1', NEWEST);
  v.heard('a:1', OLDEST); // a reply to something we sent in the oldest
  for (let t = 0; t < 50_000; t += 1000) assert.equal(v.initiate('a:1', t), NEWEST);
  assert.equal(v.speaks('a:1'), NEWEST);
});

for (const old of new Set<ProtocolVersion>([OLDEST, PREVIOUS])) {
  test(`a peer heard only in an older version (${old}) gets it, and the newest once per probe interval`, () => {
    const v = new PeerVersions({ probeIntervalMs: 10_000 });
    v.heard('old:1', old);
    const sent = Array.from({ length: 30 }, (_, i) => v.initiate('old:1', i * 1000));
    // A probe at once (never probed), then one every 10 s.
    assert.deepEqual(
      sent.map((x, i) => (x === NEWEST ? i : -1)).filter((i) => i >= 0),
      [0, 10, 20],
    );
    assert.ok(sent.every((x) => x === old || x === NEWEST));
    v.heard('old:1', NEWEST); // it was upgraded: it answered the probe
    assert.equal(v.initiate('old:1', 31_000), NEWEST);
  });
}

test('a reply in the old version teaches nothing; a reply in the newest does', () => {
  const v = new PeerVersions({ probeIntervalMs: 10_000 });
  v.heard('a:1', OLDEST, false);
  assert.equal(v.speaks('a:1'), undefined, 'it only answered in the version we wrote');
  v.heard('a:1', NEWEST, false);
  assert.equal(v.speaks('a:1'), NEWEST);
});

test('forget: the next process at an address is learned afresh; the table is bounded', () => {
  const v = new PeerVersions({ probeIntervalMs: 10_000, capacity: 3 });
  v.heard('a:1', NEWEST);
  v.forget('a:1');
  assert.equal(v.speaks('a:1'), undefined);
  for (const p of ['b:1', 'c:1', 'd:1', 'e:1']) v.heard(p, 3);
  assert.equal(v.size, 3);
  assert.equal(v.speaks('b:1'), undefined, 'the least recently heard went first');
  assert.equal(v.speaks('e:1'), 3);
});

test('a message that exists only from 7 never goes to a peer heard only in older versions, and spends no probe or try', () => {
  const v = new PeerVersions({ probeIntervalMs: 10_000 });
  assert.equal(NEWEST, 7);
  assert.equal(v.heardCarrying('never:1', carriesLiveness), undefined, 'never heard, no guess: not sent');
  assert.equal(v.heardCarrying('never:1', carriesLiveness, 7), 7, "never heard: the caller's guess");
  assert.equal(v.initiate('never:1', 0), NEWEST, 'the first try stays for a membership message');
  v.heard('six:1', 6);
  assert.equal(v.heardCarrying('six:1', carriesLiveness, 7), undefined, 'a protocol-6 peer gets no liveness message');
  assert.equal(v.heardCarrying('six:1', carriesUserEvents), 6, 'but user events, in 6');
  assert.equal(v.initiate('six:1', 0), NEWEST, 'its probe was not spent');
  v.heard('seven:1', 7);
  v.heard('seven:1', 6, false); // a reply in 6 to something sent in 6
  assert.equal(v.heardCarrying('seven:1', carriesLiveness), 7);
  v.forget('seven:1');
  assert.equal(v.heardCarrying('seven:1', carriesLiveness), undefined, 'a replaced member is learned afresh');
});

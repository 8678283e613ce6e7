/**
 * The hash ring (src/ring) as properties over random memberships: every ring with the same members gives
 * every key the same owners whatever the order they came in; owners() lists distinct members with the
 * owner first and its heir second; a join or a leave moves about 1/N of the keys and only to the joiner or
 * from the leaver; the ranges a change reports are exactly where sampled keys changed owner. And the hash
 * itself against an independent BigInt transcription of its definition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HashRing, InvalidArgumentError, ringPosition, type RingChange } from '../../src/index.js';
import { followMembers, type RingSource } from '../../src/ring/index.js';
import { hashHi, hashLo, hashPoint, hashString } from '../../src/ring/hash.js';
import { prefix, sortedOrder, type Points } from '../../src/ring/points.js';

const RUNS = { numRuns: 40, seed: 2727 };
const MASK = (1n << 64n) - 1n;

function fnv1a64(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK;
  return h;
}

/** The documented hash, transcribed with BigInt: FNV-1a 64, then MurmurHash3's fmix64. */
function reference(bytes: Uint8Array): string {
  let k = fnv1a64(bytes);
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK;
  k ^= k >> 33n;
  return k.toString(16).padStart(16, '0');
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const keysFor = (n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const ids = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }), {
  minLength: 1,
  maxLength: 24,
});

test('the reference is FNV-1a 64 (published vectors)', () => {
  assert.equal(fnv1a64(utf8('')).toString(16), 'cbf29ce484222325');
  assert.equal(fnv1a64(utf8('a')).toString(16), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64(utf8('foobar')).toString(16), '85944171f73967e8');
});

test('ringPosition is the documented hash of the UTF-8 bytes, for strings and bytes alike', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40, unit: 'binary' }), (s) => {
      // TextEncoder turns a lone surrogate into U+FFFD, as the hash does.
      assert.equal(ringPosition(s), reference(utf8(s)));
      assert.equal(ringPosition(utf8(s)), ringPosition(s));
    }),
    { numRuns: 500, seed: 2727 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => assert.equal(ringPosition(b), reference(b))),
    { numRuns: 300, seed: 2727 },
  );
});

test('a virtual node hashes as the string "id#i", from the cached "id#" state or not', () => {
  fc.assert(
    fc.property(
      fc.string({ maxLength: 12, unit: 'grapheme' }),
      fc.array(fc.nat(100_000), { maxLength: 5 }),
      (id, is) => {
        for (const i of is) {
          hashPoint(id, i);
          const point = [hashHi, hashLo];
          hashString(`${id}#${i}`);
          assert.deepEqual(point, [hashHi, hashLo], `${id}#${i}`);
        }
      },
    ),
    { numRuns: 300, seed: 2727 },
  );
});

test('points sort by position, then member id, with or without equal 53-bit prefixes', () => {
  const point = fc.record({
    hi: fc.constantFrom(0, 1, 0xffffffff),
    lo: fc.constantFrom(0, 1, 2047, 2048, 5000),
    who: fc.nat(3),
  });
  fc.assert(
    fc.property(fc.array(point, { maxLength: 40 }), fc.boolean(), (raw, unique) => {
      const pts = unique
        ? raw.filter((p, i) => raw.findIndex((q) => prefix(q.hi, q.lo) === prefix(p.hi, p.lo)) === i)
        : raw;
      const ids = ['a', 'b', 'c', 'd'];
      const points: Points = {
        ids,
        pos: Float64Array.from(pts, (p) => prefix(p.hi, p.lo)),
        hi: Uint32Array.from(pts, (p) => p.hi),
        lo: Uint32Array.from(pts, (p) => p.lo),
        who: Uint32Array.from(pts, (p) => p.who),
      };
      const key = (p: (typeof pts)[number]): string =>
        `${p.hi.toString(16).padStart(8, '0')}${p.lo.toString(16).padStart(8, '0')}${ids[p.who]}`;
      const want = pts.map(key).sort();
      assert.deepEqual(
        [...sortedOrder(points)].map((i) => key(pts[i]!)),
        want,
      );
    }),
    { numRuns: 300, seed: 2727 },
  );
});

test('the test vectors given in docs/building-on-membership.md', () => {
  const vectors: [string, string][] = [
    ['', 'efd01f60ba992926'],
    ['a', '82a2a958a9bece5b'],
    ['user:42', '998817bee6718248'],
    ['node-1#0', reference(utf8('node-1#0'))],
    ['héllo', 'c185412747a0264d'],
  ];
  for (const [s, hex] of vectors) {
    assert.equal(ringPosition(s), hex, s);
    assert.equal(reference(utf8(s)), hex, s);
  }
});

test('rings with the same members agree on every owner, whatever the order they were added and removed in', () => {
  fc.assert(
    fc.property(ids, fc.integer({ min: 1, max: 40 }), fc.nat(), (members, replicas, seed) => {
      const shuffled = fc.sample(fc.shuffledSubarray(members, { minLength: members.length }), { numRuns: 1, seed })[0]!;
      const a = new HashRing(members, { replicas });
      const b = new HashRing([], { replicas });
      for (const id of shuffled) b.add(id);
      // c holds extra members for a while: their removal must leave no trace.
      const c = new HashRing(['extra-1', ...shuffled.slice(0, 3)], { replicas });
      c.setMembers([...shuffled, 'extra-2']);
      c.remove('extra-2');
      assert.deepEqual(b.members, a.members);
      assert.deepEqual(c.members, a.members);
      for (const key of keysFor(200)) {
        const owners = a.owners(key, 3);
        assert.deepEqual(b.owners(key, 3), owners);
        assert.deepEqual(c.owners(key, 3), owners);
      }
      assert.deepEqual([...b.shares()].sort(), [...a.shares()].sort());
    }),
    RUNS,
  );
});

test('owners(key, n) are distinct, owner first, the heir second; shares sum to 1', () => {
  fc.assert(
    fc.property(ids, fc.integer({ min: 1, max: 30 }), fc.integer({ min: 0, max: 30 }), (members, replicas, n) => {
      const ring = new HashRing(members, { replicas });
      const sum = [...ring.shares().values()].reduce((x, y) => x + y, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9, `shares sum to ${sum}`);
      for (const key of keysFor(100, 'key/')) {
        const owners = ring.owners(key, n);
        assert.equal(owners.length, Math.min(n, members.length));
        assert.equal(new Set(owners).size, owners.length);
        assert.equal(ring.owner(key), ring.owners(key, 1)[0]);
        assert.deepEqual([...ring.owners(key, members.length)].sort(), [...ring.members]);
        if (members.length > 1) {
          const [first, second] = ring.owners(key, 2);
          const without = new HashRing(
            members.filter((m) => m !== first),
            { replicas },
          );
          assert.equal(without.owner(key), second, 'the second in line inherits the key');
        }
      }
    }),
    { numRuns: 25, seed: 2727 },
  );
});

test('a join moves about 1/(N+1) of the keys, all to the joiner; a leave about 1/N, all from the leaver', () => {
  const keys = keysFor(20_000);
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 60 }), fc.nat(), (n, salt) => {
      const members = Array.from({ length: n }, (_, i) => `m${salt}-${i}`);
      const ring = new HashRing(members);
      const before = keys.map((k) => ring.owner(k));
      const joined = ring.add(`joiner-${salt}`) as RingChange;
      let moved = 0;
      keys.forEach((k, i) => {
        const now = ring.owner(k);
        if (now !== before[i]) {
          moved++;
          assert.equal(now, `joiner-${salt}`, 'a join moves keys only to the joiner');
        }
      });
      const ideal = 1 / (n + 1);
      assert.ok(joined.moved > 0.6 * ideal && joined.moved < 1.5 * ideal, `join moved ${joined.moved}, ideal ${ideal}`);
      assert.ok(Math.abs(moved / keys.length - joined.moved) < 0.02, `keys ${moved / keys.length} vs ${joined.moved}`);

      const leaver = members[salt % n] as string;
      const mid = keys.map((k) => ring.owner(k));
      const left = ring.remove(leaver) as RingChange;
      keys.forEach((k, i) => {
        if (ring.owner(k) !== mid[i]) assert.equal(mid[i], leaver, 'a leave moves only the leaver’s keys');
      });
      const share = 1 / (n + 1);
      assert.ok(left.moved > 0.6 * share && left.moved < 1.5 * share, `leave moved ${left.moved}, ideal ${share}`);
      assert.deepEqual(left.removed, [leaver]);
      assert.deepEqual(joined.added, [`joiner-${salt}`]);
    }),
    { numRuns: 20, seed: 2727 },
  );
});

/** The range of `change` holding position `pos` (hex), or undefined. */
function rangeOf(change: RingChange, pos: string): RingChange['ranges'][number] | undefined {
  return change.ranges.find((r) =>
    r.start < r.end ? pos >= r.start && pos < r.end : r.start === r.end || pos >= r.start || pos < r.end,
  );
}

test('the ranges of a change are exactly where sampled keys changed owner, with the right from and to', () => {
  const keys = keysFor(4000, 'sample:');
  fc.assert(
    fc.property(ids, ids, fc.integer({ min: 1, max: 50 }), (before, after, replicas) => {
      const ring = new HashRing(before, { replicas });
      const owners = keys.map((k) => ring.owner(k));
      let emitted: RingChange | undefined;
      ring.on('change', (c) => (emitted = c));
      const change = ring.setMembers(after);
      const same = [...new Set(before)].sort().join('\0') === [...new Set(after)].sort().join('\0');
      if (same) {
        assert.equal(change, undefined);
        assert.equal(emitted, undefined);
        return;
      }
      assert.ok(change);
      assert.equal(emitted, change);
      let moved = 0;
      keys.forEach((k, i) => {
        const range = rangeOf(change, ringPosition(k));
        const now = ring.owner(k);
        if (now === owners[i]) assert.equal(range, undefined, `${k} did not move but lies in a reported range`);
        else {
          moved++;
          assert.ok(range, `${k} moved from ${owners[i]} to ${now} outside every reported range`);
          assert.deepEqual([range.from, range.to], [owners[i], now]);
        }
      });
      // The fraction is of the key space; the keys are a sample of it.
      assert.ok(Math.abs(moved / keys.length - change.moved) < 0.05, `${moved / keys.length} vs ${change.moved}`);
      for (const r of change.ranges) assert.notEqual(r.from, r.to);
    }),
    RUNS,
  );
});

test('an empty ring owns nothing; its first member takes the whole ring, its last leaves it whole', () => {
  const ring = new HashRing();
  assert.equal(ring.owner('x'), undefined);
  assert.deepEqual(ring.owners('x', 3), []);
  assert.equal(ring.shares().size, 0);
  const first = ring.add('solo') as RingChange;
  assert.equal(first.moved, 1);
  assert.equal(first.ranges.length, 1);
  assert.equal(first.ranges[0]?.start, first.ranges[0]?.end);
  assert.deepEqual([first.ranges[0]?.from, first.ranges[0]?.to], [undefined, 'solo']);
  assert.equal(ring.shares().get('solo'), 1);
  assert.equal(ring.owner(new Uint8Array([1, 2])), 'solo');
  const last = ring.remove('solo') as RingChange;
  assert.deepEqual([last.moved, last.ranges[0]?.from, last.ranges[0]?.to], [1, 'solo', undefined]);
  assert.equal(ring.remove('solo'), undefined, 'removing an absent member changes nothing');
});

test('bad replicas and counts are refused; close() drops the listeners', () => {
  for (const replicas of [0, -1, 1.5, 100_000, Number.NaN])
    assert.throws(() => new HashRing(['a'], { replicas }), InvalidArgumentError);
  const ring = new HashRing(['a', 'b']);
  assert.throws(() => ring.owners('k', -1), InvalidArgumentError);
  assert.throws(() => ring.setMembers([7 as unknown as string]), InvalidArgumentError);
  let changes = 0;
  ring.on('change', () => changes++);
  ring.add('c');
  ring.close();
  ring.add('d');
  assert.equal(changes, 1);
});

test('a following ring holds the live members matching its tags, and stops following when closed', () => {
  type Member = { id: string; metadata: Record<string, string> };
  let live: Member[] = [
    { id: 'a', metadata: { role: 'cache' } },
    { id: 'b', metadata: { role: 'db' } },
  ];
  type Listener = (member: unknown, keys: readonly string[]) => void;
  const listeners = new Map<string, Set<Listener>>();
  const source: RingSource = {
    members: (filter) => live.filter((m) => Object.entries(filter.tags ?? {}).every(([k, v]) => m.metadata[k] === v)),
    on: (e: string, l: Listener) => listeners.set(e, (listeners.get(e) ?? new Set()).add(l)),
    off: (e: string, l: Listener) => listeners.get(e)?.delete(l),
  };
  const fire = (e: string, keys: readonly string[] = []): void => listeners.get(e)?.forEach((l) => l(undefined, keys));
  const ring = followMembers(source, { filter: { tags: { role: 'cache' } }, replicas: 8 });
  const all = followMembers(source);
  const changes: RingChange[] = [];
  ring.on('change', (c) => changes.push(c));
  assert.deepEqual(ring.members, ['a']);
  live = [...live, { id: 'c', metadata: { role: 'cache' } }];
  fire('live');
  assert.deepEqual(ring.members, ['a', 'c']);
  assert.deepEqual(all.members, ['a', 'b', 'c']);
  live = live.map((m) => (m.id === 'a' ? { ...m, metadata: { role: 'db' } } : m));
  fire('update', ['load']);
  assert.deepEqual(ring.members, ['a', 'c'], 'an update of no filter tag is not looked at');
  fire('update', ['load', 'role']);
  assert.deepEqual(ring.members, ['c']);
  assert.deepEqual(
    changes.map((c) => [c.added, c.removed]),
    [
      [['c'], []],
      [[], ['a']],
    ],
  );
  fire('dead');
  assert.equal(changes.length, 2, 'an event that changes nothing emits nothing');
  ring.close();
  all.close();
  assert.equal(
    [...listeners.values()].reduce((n, s) => n + s.size, 0),
    0,
    'closed rings left no listener',
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SlotValues } from '../../src/core/slot-values.js';

type Op = { kind: 'set' | 'delete' | 'get'; slot: number } | { kind: 'clear' };

const op = (slots: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), slot: fc.nat(slots - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), slot: fc.nat(slots - 1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), slot: fc.nat(slots + 5) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  );

test('slot values read as a Map keyed by slot would, sparse or dense, across the switch between them', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(8, 40, 200),
      fc.integer({ min: 0, max: 600 }).chain((n) => fc.array(op(200), { minLength: n, maxLength: n })),
      (slots, ops) => {
        const v = new SlotValues<{ id: number }>();
        const model = new Map<number, { id: number }>();
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'clear') {
            v.clear();
            model.clear();
            continue;
          }
          const slot = o.slot % (o.kind === 'get' ? slots + 5 : slots);
          if (o.kind === 'set') {
            const value = { id: id++ };
            v.set(slot, value);
            model.set(slot, value);
          } else if (o.kind === 'delete') {
            assert.equal(v.delete(slot), model.delete(slot));
          } else {
            assert.equal(v.get(slot), model.get(slot));
          }
          assert.equal(v.size, model.size);
        }
        const bySlot = (a: [number, { id: number }][]): [number, { id: number }][] => a.sort((x, y) => x[0] - y[0]);
        assert.deepEqual(bySlot([...v]), bySlot([...model]));
        for (let s = 0; s < slots + 5; s++) assert.equal(v.get(s), model.get(s));
      },
    ),
    { numRuns: 300 },
  );
});

test('slot values: a dense table filled, emptied and refilled (a renumbering) holds exactly what was set', () => {
  const v = new SlotValues<{ id: number }>();
  const all = Array.from({ length: 100 }, (_, i) => ({ id: i }));
  all.forEach((m, s) => v.set(s, m));
  assert.equal(v.size, 100);
  v.delete(50);
  assert.equal(v.get(50), undefined);
  const held = [...v];
  assert.equal(held.length, 99);
  v.clear();
  assert.equal(v.size, 0);
  assert.equal(v.get(3), undefined);
  held.forEach(([s, m]) => v.set(99 - s, m));
  assert.equal(v.get(99 - 3), all[3]);
  assert.equal(v.get(99 - 50), undefined);
  assert.equal(v.size, 99);
});

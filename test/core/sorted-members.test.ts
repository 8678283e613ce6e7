/**
 * Membership.sortedMembers, kept up to date from its last order (core/sorted-slots.ts): after any mix of
 * admissions, removals (whose slots later members reuse) and renumberings, it equals a full sort of the occupied
 * slots by ref.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityRef } from '../../src/core/identity.js';
import { Journal } from '../../src/core/journal.js';
import { Membership } from '../../src/core/membership.js';
import { seededRandom } from '../../src/core/random.js';
import { FREE } from '../../src/core/peer-table.js';
import type { NodeIdentity } from '../../src/core/types.js';

const node = (i: number): NodeIdentity => ({ id: `n${i}`, generation: 1, address: `10.0.${i >> 8}.${i & 255}:7946` });

function fullSort(m: Membership): number[] {
  const t = m.table;
  const slots: number[] = [];
  for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE) slots.push(s);
  return slots.sort((a, b) => t.ref(a) - t.ref(b) || a - b);
}

test('sortedMembers equals a full sort through admissions, removals into reused slots and renumberings', () => {
  for (const seed of [1, 2, 3]) {
    const rng = seededRandom(seed);
    const m = new Membership({ journal: new Journal() }, { self: node(0), graceMs: 0, window: 8, expected: 16 });
    let next = 1;
    let now = 0;
    for (let step = 0; step < 400; step++) {
      now += 1000;
      const r = rng.next();
      if (r < 0.5 || m.size < 3) {
        for (let k = 0; k < 1 + Math.floor(rng.next() * 5); k++) {
          const id = node(next++);
          m.admit(id, identityRef(id), 1, now);
        }
      } else if (r < 0.8) {
        // A member removed frees its slot for the next admission.
        const occupied = fullSort(m).filter((s) => s !== 0);
        const s = occupied[Math.floor(rng.next() * occupied.length)] as number;
        m.forceLeave(s, now, { final: false });
      } else {
        // Two calls: the first notes whether members changed since the last round, the second renumbers.
        m.keepSlotsInRefOrder();
        m.keepSlotsInRefOrder();
      }
      if (rng.next() < 0.7) assert.deepEqual([...m.sortedMembers()], fullSort(m), `seed ${seed}, step ${step}`);
    }
  }
});

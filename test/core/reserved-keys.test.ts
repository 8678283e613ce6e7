/**
 * Applications may not write or delete keys starting with RESERVED_KEY_PREFIX (U+0000): protocol 7's gate keeps its
 * advertisements there (SPEAKS_KEY, READY_KEY). Tested at the core's write entry points, which every harness (the
 * runtime, the agent, the simulator) goes through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { seededRandom } from '../../src/core/random.js';
import { assertApplicationKey, isReservedKey } from '../../src/core/reserved-keys.js';
import { READY_KEY, RESERVED_KEY_PREFIX, SPEAKS_KEY } from '../../src/wire/liveness-messages.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { coreConfig } from './mini-cluster.js';

/** The refusal: coded, and its message says what is wrong and what to do. */
function refused(err: unknown): boolean {
  return (
    err instanceof InvalidArgumentError &&
    err.code === 'SB_ERR_INVALID_ARG' &&
    err.message.includes('U+0000') &&
    err.message.includes('reserved') &&
    err.message.includes('use a key that does not start with U+0000')
  );
}

test('the reserved keys start with the reserved prefix; keys merely containing U+0000 are not reserved', () => {
  assert.equal(RESERVED_KEY_PREFIX, '\u0000');
  for (const key of [SPEAKS_KEY, READY_KEY, '\u0000', '\u0000anything']) assert.equal(isReservedKey(key), true, key);
  for (const key of ['speaks', 'a\u0000b', ' \u0000', '\u0001x', 'x\u0000']) assert.equal(isReservedKey(key), false);
  assert.throws(() => assertApplicationKey(SPEAKS_KEY), refused);
  assert.doesNotThrow(() => assertApplicationKey('a\u0000b'));
  // Non-strings are left to the write's own checks, which name them.
  assert.doesNotThrow(() => assertApplicationKey(42));
});

test("the core refuses an application's set, setWithTtl and delete of a reserved key, and changes nothing", () => {
  const core = new ScuttlebuttCore(coreConfig(1), seededRandom(1), 0, { role: 'web' });
  core.takeEvents();
  const self = 'n1';
  const before = core.maxVersionOf(self);
  assert.throws(() => core.set(SPEAKS_KEY, '7', 1), refused);
  assert.throws(() => core.set(READY_KEY, '1', 1), refused);
  assert.throws(() => core.set('\u0000mine', 'x', 1), refused);
  assert.throws(() => core.setWithTtl(READY_KEY, '1', 5_000, 1), refused);
  assert.throws(() => core.delete(SPEAKS_KEY, 1), refused);
  assert.equal(core.maxVersionOf(self), before, 'a refused write took a version');
  assert.equal(core.get(SPEAKS_KEY), undefined);
  assert.deepEqual(core.takeEvents(), [], 'a refused write raised an event');
  // Ordinary keys, even with U+0000 inside, still go through.
  core.set('a\u0000b', 'v', 2);
  assert.equal(core.get('a\u0000b'), 'v');
  assert.equal(core.maxVersionOf(self), before + 1);
});

test('the core refuses reserved keys among the initial values (the runtime passes its metadata there)', () => {
  assert.throws(
    () => new ScuttlebuttCore(coreConfig(1), seededRandom(1), 0, { role: 'web', [READY_KEY]: '1' }),
    refused,
  );
});

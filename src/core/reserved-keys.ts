/**
 * Keys applications may not write. Protocol 7 keeps its own advertisements in each node's state as keys starting
 * with RESERVED_KEY_PREFIX (U+0000): SPEAKS_KEY and READY_KEY, the gate's (core/gate.ts). They are keys rather than
 * identity fields so that protocol-6 members relay them as they relay any key; the price is that an application
 * writing or deleting one would forge its own node's advertisement (and open or close the gate for the cluster),
 * so every application entry point (ScuttlebuttCore's writes and initial values, hence the runtime's and the
 * agent's) refuses them. The core writes them through OwnValues directly.
 */
import { InvalidArgumentError } from '../errors.js';
import { RESERVED_KEY_PREFIX } from '../wire/liveness-messages.js';
import type { CoreEvent } from './types.js';

/** Whether a key belongs to the protocol (starts with RESERVED_KEY_PREFIX). */
export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_KEY_PREFIX);
}

/**
 * Throws InvalidArgumentError (SB_ERR_INVALID_ARG) for a key an application may not write or delete. Keys that are
 * not strings are left to the write's own checks, which name them.
 */
export function assertApplicationKey(key: unknown): void {
  if (typeof key === 'string' && isReservedKey(key)) {
    throw new InvalidArgumentError(
      `key ${JSON.stringify(key.slice(0, 40))} starts with U+0000, which is reserved for the protocol's own keys ` +
        '(protocol 7 advertises "\\u0000speaks" and "\\u0000ready" there): use a key that does not start with U+0000',
    );
  }
}

/**
 * Events without the protocol's reserved keys (the gate's, reserved-keys.ts): an update of those alone is no event
 * for the application.
 */
export function withoutReservedKeys(events: CoreEvent[]): CoreEvent[] {
  const out: CoreEvent[] = [];
  for (const e of events) {
    if (e.type !== 'update' || !e.keys.some(isReservedKey)) out.push(e);
    else {
      const keys = e.keys.filter((k) => !isReservedKey(k));
      if (keys.length > 0) out.push({ ...e, keys });
    }
  }
  return out;
}

/**
 * `node dist/test/wire/write-liveness-fixture.js`: writes test/wire/fixtures/v7-liveness.hex, protocol 7's golden message
 * bodies (liveness-golden.ts), when it does not exist yet. It never overwrites it: the pin test holds the codec to
 * those bytes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { formatLivenessFixture, LIVENESS_FIXTURE } from './liveness-golden.js';

if (existsSync(LIVENESS_FIXTURE)) {
  process.stderr.write(`${LIVENESS_FIXTURE} exists: protocol 7's golden bytes are fixed.\n`);
  process.exit(1);
}
writeFileSync(LIVENESS_FIXTURE, formatLivenessFixture());
process.stdout.write(`wrote ${LIVENESS_FIXTURE}\n`);

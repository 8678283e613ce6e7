/**
 * `node dist/test/wire/write-query-fixtures.js`: writes test/wire/fixtures/v6-queries.hex, the golden
 * bytes of protocol 6's query messages, when it does not exist yet. It never overwrites it: released
 * bytes are a promise to every node running them (docs/compatibility.md).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { encodeQueryCases, formatQueryFixture, QUERY_FIXTURE } from './query-fixtures.js';

if (existsSync(QUERY_FIXTURE)) {
  process.stderr.write(`${QUERY_FIXTURE} exists: its bytes are fixed. A wire change needs a new protocol version.\n`);
  process.exit(1);
}
writeFileSync(QUERY_FIXTURE, formatQueryFixture(encodeQueryCases()));
process.stdout.write(`wrote ${QUERY_FIXTURE}\n`);

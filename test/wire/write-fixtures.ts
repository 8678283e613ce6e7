/**
 * `node dist/test/wire/write-fixtures.js --new N [--part NAME]`: writes the golden fixture file of
 * protocol N (or of one of its parts, `v<N>-<NAME>.hex`), a version this code speaks and that has no file yet. It never overwrites one: the bytes of a
 * released version are a promise to every node running it (docs/compatibility.md).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isSupportedVersion } from '../../src/wire/codec.js';
import { encodeAll, encodePart, FIXTURES_DIR, fixtureParts, fixturePath, formatFixture } from './golden.js';

const { values } = parseArgs({ options: { new: { type: 'string' }, part: { type: 'string' } }, strict: true });
const version = Number(values.new);
if (values.new === undefined || !isSupportedVersion(version)) {
  process.stderr.write(
    `usage: write-fixtures --new N, N a protocol version this code speaks (got ${values.new ?? 'nothing'})\n`,
  );
  process.exit(2);
}
const part = values.part;
if (part !== undefined && !fixtureParts(version).includes(part)) {
  process.stderr.write(
    `protocol ${version} has no part "${part}" (parts: ${fixtureParts(version).join(', ') || 'none'})\n`,
  );
  process.exit(2);
}
const path = fixturePath(version, part);
if (existsSync(path)) {
  process.stderr.write(
    `${path} exists: protocol ${version}'s bytes are fixed. A wire change needs a new protocol version (PROTOCOL_VERSION + 1) and its own file.\n`,
  );
  process.exit(1);
}
mkdirSync(FIXTURES_DIR, { recursive: true });
writeFileSync(
  path,
  part === undefined
    ? formatFixture(version, encodeAll(version))
    : formatFixture(version, encodePart(version, part), part),
);
process.stdout.write(`wrote ${path}\n`);

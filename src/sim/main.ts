#!/usr/bin/env node
import { main } from './cli.js';

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`sim: ${(err as Error).message}\n`);
  process.exit(2);
}

#!/usr/bin/env node
/**
 * The bin entry of the command-line tool (commands.ts has the commands; docs/cli.md).
 *
 * It only sets V8's flags for `scuttlebutt agent` (young-generation.ts, jit.ts), then loads the rest: an ESM
 * module's static imports are all resolved and read before any of them runs, and resolving the CLI's hundred-odd
 * modules is enough for V8 to optimise node's own module loader, which is what jit.ts holds off in an idle agent.
 */
import './young-generation.js';
import './jit.js';

await import('./commands.js');

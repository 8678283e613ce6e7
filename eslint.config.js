import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/**
 * The architecture as a rule: imports point down, never up.
 *   cli -> runtime -> transport -> wire        sim -> core -> wire        runtime -> ring
 * core and wire are pure (no Node built-ins: no sockets, timers, files, crypto); the simulator drives
 * the core without the transport; nothing but the CLI's own files imports the CLI.
 */
const builtins = ['node:*', ...builtinModules, ...builtinModules.map((m) => `${m}/*`)];
const layer = (from, forbidden, why) => ({
  files: [`src/${from}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((group) => ({
          group: [group].flat(),
          message: `${from}/ must not import this: ${why}`,
        })),
      },
    ],
  },
});
const up = (...dirs) => dirs.map((d) => `**/${d}/**`);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'docs/api/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // The examples are plain JavaScript for Node, as a user would write them.
  { files: ['examples/**/*.js'], languageOptions: { globals: globals.node } },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Prettier wraps code to 120 columns but not strings or comments: this keeps those within it too.
  { files: ['src/**/*.ts'], rules: { 'max-len': ['error', { code: 120 }] } },
  layer(
    'wire',
    [builtins, up('core', 'transport', 'runtime', 'sim', 'cli')],
    'the wire format is pure and below everything (see docs/architecture.md)',
  ),
  layer(
    'core',
    [builtins, up('transport', 'runtime', 'sim', 'cli')],
    'the protocol core is pure: clock, randomness and I/O come from its harness (see docs/architecture.md)',
  ),
  {
    files: ['src/core/**/*.ts', 'src/wire/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'performance', 'process', 'fetch'].map(
          (name) => ({
            name,
            message: 'the core and the wire format are pure: time and scheduling come from the harness',
          }),
        ),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'the core takes the clock as an argument (now)' },
        { object: 'Math', property: 'random', message: 'the core takes its randomness as an input (Random)' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date']", message: 'the core takes the clock as an argument (now)' },
      ],
    },
  },
  layer(
    'transport',
    [up('core', 'runtime', 'sim', 'cli')],
    'the transport frames packets for the runtime and knows only the wire format',
  ),
  layer(
    'sim',
    [up('transport', 'runtime', 'cli')],
    'the simulator wraps the core alone, with a virtual clock and network',
  ),
  layer('runtime', [up('sim', 'cli')], 'the runtime is the library; the CLI and the simulator sit on top of it'),
  layer(
    'ring',
    [up('core', 'wire', 'transport', 'runtime', 'sim', 'cli')],
    "the hash ring is pure (member ids in, owners out) and learns a node's members through RingSource",
  ),
  {
    ...layer('bench', [up('cli')], 'benchmarks drive the library, the simulator or the agent as a process'),
    files: ['bench/**/*.ts'],
  },
);

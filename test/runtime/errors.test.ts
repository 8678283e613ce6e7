/**
 * The one error shape: every class has its own stable code and its name, extends ScuttlebuttError,
 * keeps its cause; and what the public entry points throw on bad input is one of them (identified
 * by code, never by message text). Pure: no sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BindError,
  ClosedError,
  ConfigError,
  DiscoveryError,
  ERROR_CODES,
  ForceLeaveError,
  InternalError,
  InvalidArgumentError,
  ScuttlebuttError,
  SeedError,
  UserEventError,
  ValueTooLargeError,
  VersionsExhaustedError,
  QueryError,
} from '../../src/index.js';
import { DecodeError, decodeMessage, encodeMessage } from '../../src/wire/index.js';
import { EnvelopeError, openEnvelope, ReplayWindows, sealEnvelope } from '../../src/transport/index.js';
import { parseSeed } from '../../src/discovery/index.js';
import { UsageError } from '../../src/cli/usage.js';
import { AgentError } from '../../src/cli/client.js';
import { HttpError } from '../../src/cli/http-api.js';
import { StreamError } from '../../src/runtime/stream.js';

test('each error class has its own code from ERROR_CODES, its class name, and keeps its cause', () => {
  const socketError = Object.assign(new Error('bind EADDRINUSE 127.0.0.1:9111'), { code: 'EADDRINUSE' });
  const errors: [ScuttlebuttError, string, string][] = [
    [new ConfigError(['gossipNodes must be at least 1']), 'ConfigError', 'SB_ERR_CONFIG'],
    [new SeedError('x', 'the port is missing'), 'SeedError', 'SB_ERR_SEED'],
    [new DiscoveryError('x:1', 'not-found', 'does not resolve', socketError), 'DiscoveryError', 'SB_ERR_DISCOVERY'],
    [new BindError('cannot bind UDP', socketError), 'BindError', 'SB_ERR_BIND'],
    [new ClosedError('shut down'), 'ClosedError', 'SB_ERR_CLOSED'],
    [new ForceLeaveError('live', 'live'), 'ForceLeaveError', 'SB_ERR_FORCE_LEAVE'],
    [new InvalidArgumentError('bad'), 'InvalidArgumentError', 'SB_ERR_INVALID_ARG'],
    [new ValueTooLargeError('big'), 'ValueTooLargeError', 'SB_ERR_VALUE_TOO_LARGE'],
    [new VersionsExhaustedError('2^32'), 'VersionsExhaustedError', 'SB_ERR_VERSIONS_EXHAUSTED'],
    [new DecodeError('truncated', 'short'), 'DecodeError', 'SB_ERR_DECODE'],
    [new EnvelopeError('bad-magic', 'no'), 'EnvelopeError', 'SB_ERR_ENVELOPE'],
    [new InternalError('bug'), 'InternalError', 'SB_ERR_INTERNAL'],
    [new UsageError('--nodes'), 'UsageError', 'SB_ERR_USAGE'],
    [new HttpError(400, 'bad request'), 'HttpError', 'SB_ERR_HTTP'],
    [new AgentError('no agent', undefined, socketError), 'AgentError', 'SB_ERR_AGENT'],
    [new UserEventError('rate-limited', 'slow down'), 'UserEventError', 'SB_ERR_USER_EVENT'],
    [new QueryError('rate-limited', 'too many'), 'QueryError', 'SB_ERR_QUERY'],
    [new StreamError('stream-busy', 'one open'), 'StreamError', 'SB_ERR_STREAM'],
  ];
  for (const [err, name, code] of errors) {
    assert.ok(err instanceof ScuttlebuttError && err instanceof Error, name);
    assert.equal(err.name, name);
    assert.equal(err.code, code, name);
    assert.ok(String(err).startsWith(`${name}: `), String(err));
    assert.ok(err.stack?.startsWith(`${name}: `), `${name}: the stack names the class`);
  }
  assert.deepEqual(errors.map(([e]) => e.code).sort(), [...ERROR_CODES].sort(), 'one class per code, every code used');
  assert.equal(errors.find(([e]) => e instanceof BindError)?.[0].cause, socketError);
  assert.equal((errors.find(([e]) => e instanceof DiscoveryError)?.[0].cause as { code: string }).code, 'EADDRINUSE');
  assert.equal(new ClosedError('no cause').cause, undefined);
  assert.ok(!('cause' in new ClosedError('no cause')), 'no cause: no own property either');
});

test('bad input to the public entry points throws by code', () => {
  const code = (c: string) => (e: unknown) => e instanceof ScuttlebuttError && e.code === c;
  assert.throws(() => parseSeed('10.0.0.1'), code('SB_ERR_SEED'));
  assert.throws(() => decodeMessage(Uint8Array.of(99)), code('SB_ERR_DECODE'));
  const opts = { keys: [], compress: false, maxPacketBytes: 1400 };
  assert.throws(() => openEnvelope(Uint8Array.of(1, 2, 3, 4, 5), opts), code('SB_ERR_ENVELOPE'));
  assert.throws(
    () => sealEnvelope(new Uint8Array(8), { ...opts, keys: [new Uint8Array(20)] }),
    code('SB_ERR_INVALID_ARG'),
  );
  assert.throws(() => sealEnvelope(new Uint8Array(8), opts, { version: 99 as 5 }), code('SB_ERR_INVALID_ARG'));
  assert.throws(
    () =>
      encodeMessage(
        { type: 'leave', clusterId: 'c', identity: { id: 'n', address: '10.0.0.1:1', generation: 1 }, heartbeat: 1 },
        99 as 5,
      ),
    code('SB_ERR_INVALID_ARG'),
  );
  assert.throws(() => new ReplayWindows({ capacity: 0 }), code('SB_ERR_INVALID_ARG'));
});

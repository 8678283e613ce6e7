import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEventBody, parseQueryBody, parseRingQuery, payloadFields } from '../../src/cli/http-events.js';
import { HttpError } from '../../src/cli/http-request.js';
import { parseDuration } from '../../src/cli/event-commands.js';

/** The refusal a body gets: a 400 whose message matches `message`. */
function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    return true;
  });
}

test('POST /event bodies: name, payload as text or base64, coalesce; every mistake named', () => {
  assert.deepEqual(parseEventBody({ name: 'deploy' }), { name: 'deploy', payload: undefined, coalesce: undefined });
  assert.deepEqual(parseEventBody({ name: 'deploy', payload: 'v1', coalesce: false }), {
    name: 'deploy',
    payload: 'v1',
    coalesce: false,
  });
  const bytes = parseEventBody({ name: 'b', payloadBase64: Buffer.from([0, 255, 1]).toString('base64') }).payload;
  assert.deepEqual(bytes, new Uint8Array([0, 255, 1]));
  refused(() => parseEventBody({}), /needs "name", a non-empty string \(got none\)/);
  refused(() => parseEventBody({ name: '' }), /"name"/);
  refused(() => parseEventBody({ name: 7 }), /"name".*7/);
  refused(() => parseEventBody({ name: 'x', payload: 3 }), /"payload" must be a string.*payloadBase64/);
  refused(() => parseEventBody({ name: 'x', payload: 'a', payloadBase64: 'YQ==' }), /not both/);
  for (const bad of ['YQ', 'Y===', 'a b=', '!!!!', 12])
    refused(() => parseEventBody({ name: 'x', payloadBase64: bad }), /"payloadBase64" must be a base64 string/);
  refused(() => parseEventBody({ name: 'x', coalesce: 'false' }), /"coalesce" must be true or false/);
  refused(() => parseEventBody({ name: 'x', coalesse: false }), /unknown field "coalesse".*takes name, payload/);
});

test('POST /query bodies: the filter, timeout, ack and relay factor as QueryOptions; every mistake named', () => {
  assert.deepEqual(parseQueryBody({ name: 'load' }), { name: 'load', payload: undefined, options: {} });
  const q = parseQueryBody({
    name: 'load',
    payload: 'p',
    tags: { role: 'web', __proto__: 'x' },
    ids: ['a', 'b'],
    timeoutMs: 1500,
    ack: false,
    relayFactor: 2,
  });
  assert.equal(q.payload, 'p');
  assert.deepEqual({ ...q.options.filter?.tags }, { role: 'web' }, 'a JSON __proto__ key is the prototype here');
  const own = parseQueryBody(JSON.parse('{"name":"n","tags":{"__proto__":"x"}}') as Record<string, unknown>);
  assert.equal(Object.getOwnPropertyDescriptor(own.options.filter?.tags, '__proto__')?.value, 'x');
  assert.deepEqual(q.options.filter?.ids, ['a', 'b']);
  assert.equal(q.options.timeoutMs, 1500);
  assert.equal(q.options.ack, false);
  assert.equal(q.options.relayFactor, 2);
  refused(() => parseQueryBody({ name: 'n', tags: ['role=web'] }), /"tags" must be an object of strings/);
  refused(() => parseQueryBody({ name: 'n', tags: { role: 1 } }), /key "role" has "1"/);
  refused(() => parseQueryBody({ name: 'n', tags: { '': 'x' } }), /empty key/);
  refused(() => parseQueryBody({ name: 'n', ids: 'a' }), /"ids" must be an array of member ids/);
  refused(() => parseQueryBody({ name: 'n', ids: ['a', ''] }), /"ids"/);
  refused(() => parseQueryBody({ name: 'n', ids: Array.from({ length: 1025 }, (_, i) => `n${i}`) }), /at most 1024/);
  for (const t of [0, -5, 1.5, '5s', 600_001])
    refused(() => parseQueryBody({ name: 'n', timeoutMs: t }), /"timeoutMs" must be an integer from 1 to 600000/);
  refused(() => parseQueryBody({ name: 'n', ack: 'no' }), /"ack" must be true or false/);
  refused(() => parseQueryBody({ name: 'n', relayFactor: -1 }), /"relayFactor" must be an integer from 0/);
  refused(() => parseQueryBody({ name: 'n', tag: { a: 'b' } }), /unknown field "tag"/);
  refused(() => parseQueryBody({ payload: 'p' }), /needs "name"/);
});

test('GET /ring parameters: replicas and tags, anything else named', () => {
  assert.deepEqual(parseRingQuery(new URLSearchParams('')), {});
  assert.deepEqual(parseRingQuery(new URLSearchParams('replicas=64&tag=role=web&tag=zone=a')), {
    replicas: 64,
    filter: { tags: Object.assign(Object.create(null) as object, { role: 'web', zone: 'a' }) },
  });
  for (const r of ['0', '-1', '1.5', 'x', '', '4097'])
    refused(() => parseRingQuery(new URLSearchParams(`replicas=${r}`)), /"replicas" must be an integer from 1/);
  refused(() => parseRingQuery(new URLSearchParams('tag=role')), /"tag" must be KEY=VALUE/);
  refused(() => parseRingQuery(new URLSearchParams('key=x')), /unknown query parameter "key"/);
});

test('payloads out: UTF-8 text as "payload", other bytes as "payloadBase64"', () => {
  assert.deepEqual(payloadFields(new TextEncoder().encode('héllo')), { payload: 'héllo' });
  assert.deepEqual(payloadFields(new Uint8Array()), { payload: '' });
  assert.deepEqual(payloadFields(new Uint8Array([0xff, 0xfe])), { payloadBase64: '//4=' });
});

test('--timeout durations as serf writes them; a bare number or a typo is refused', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('15s'), 15_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  for (const bad of ['5', '', 's', '5 s', '5sec', '-1s', '1e3ms']) assert.equal(parseDuration(bad), null, bad);
});

/** The --event-handler grammar, the event types of membership events, and the stdin layout (no processes). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handles, parseHandlerSpec, parseHandlerTimeout } from '../../src/cli/handler-spec.js';
import { envKey, memberEventType, memberLines } from '../../src/cli/event-handlers.js';
import { UsageError } from '../../src/cli/usage.js';

const refused = (text: string, why: RegExp): void =>
  assert.throws(
    () => parseHandlerSpec(text),
    (e: unknown) => e instanceof UsageError && why.test(e.message),
    text,
  );

test('parseHandlerSpec: no filter means every event; filters are type lists with names for user and query', () => {
  const all = parseHandlerSpec('./handler.sh');
  assert.deepEqual(all, { filters: [{ type: '*' }], script: './handler.sh' });
  for (const t of ['member-join', 'member-reap', 'user']) assert.ok(handles(all, t as 'user', 'x'));
  // A query is answered by the handlers that name it, only.
  assert.ok(!handles(all, 'query', 'x'));

  const joins = parseHandlerSpec('member-join,member-leave=./x.sh --flag=1');
  assert.equal(joins.script, './x.sh --flag=1');
  assert.ok(handles(joins, 'member-join'));
  assert.ok(handles(joins, 'member-leave'));
  assert.ok(!handles(joins, 'member-failed'));
  assert.ok(!handles(joins, 'user', 'deploy'));

  const deploy = parseHandlerSpec('user:deploy=./deploy.sh');
  assert.ok(handles(deploy, 'user', 'deploy'));
  assert.ok(!handles(deploy, 'user', 'reload'));
  assert.ok(!handles(deploy, 'query', 'deploy'));
  const anyUser = parseHandlerSpec('user=./u.sh');
  assert.ok(handles(anyUser, 'user', 'reload'));
  assert.ok(handles(parseHandlerSpec('query:load,user=./q.sh'), 'query', 'load'));

  // A script with "=" after a space or a slash is a script, not a filter.
  assert.equal(parseHandlerSpec('/usr/bin/env A=1 ./x.sh').script, '/usr/bin/env A=1 ./x.sh');
  assert.equal(parseHandlerSpec('*=FOO=1 ./x.sh').script, 'FOO=1 ./x.sh');
});

test('parseHandlerSpec: wrong filters say what to write', () => {
  refused('memberjoin=./x.sh', /unknown event type "memberjoin"; TYPE is one of member-join, .*\*=SCRIPT/);
  refused('FOO=1 ./x.sh', /unknown event type "FOO"/);
  refused('member-join:web=./x.sh', /only user and query events have names/);
  refused('user:=./x.sh', /empty name; write user for every name/);
  refused('query=./x.sh', /a query handler needs the query's name, query:NAME=SCRIPT/);
  refused('member-join=', /no script after "="/);
  refused('  ', /the script is empty/);
});

test('parseHandlerTimeout: durations with units, bounded; bare numbers are seconds', () => {
  assert.equal(parseHandlerTimeout('10s'), 10_000);
  assert.equal(parseHandlerTimeout('500ms'), 500);
  assert.equal(parseHandlerTimeout('2m'), 120_000);
  assert.equal(parseHandlerTimeout('3'), 3000);
  assert.equal(parseHandlerTimeout('1.5s'), 1500);
  for (const bad of ['', 'soon', '-1s', '0', '2h', '10 sec'])
    assert.throws(
      () => parseHandlerTimeout(bad),
      (e: unknown) => e instanceof UsageError && /--event-handler-timeout must be a duration/.test(e.message),
      bad,
    );
});

test('membership events map to serf types by death reason; member lines escape their delimiters', () => {
  assert.equal(memberEventType('live'), 'member-join');
  assert.equal(memberEventType('dead', 'left'), 'member-leave');
  assert.equal(memberEventType('dead', 'suspected'), 'member-failed');
  assert.equal(memberEventType('dead', 'superseded'), 'member-leave');
  assert.equal(memberEventType('update'), 'member-update');
  assert.equal(memberEventType('removed'), 'member-reap');
  const m = { id: 'n1', address: '10.0.0.1:9111', generation: 1, status: 'live' as const, heartbeat: 3 };
  assert.equal(
    memberLines([
      { ...m, metadata: { role: 'web', note: 'a,b=c\td\n' } },
      { ...m, id: 'n2', status: 'dead', metadata: {} },
    ]),
    'n1\t10.0.0.1:9111\tlive\trole=web,note=a%2cb%3dc%09d%0a\nn2\t10.0.0.1:9111\tdead\t\n',
  );
  assert.equal(envKey('dc.zone-1'), 'DC_ZONE_1');
});

/** Seed discovery against a fake resolver: syntax, A/AAAA fan-out, SRV expansion, re-resolution, errors, logging. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScuttlebutt, defaultLanConfig, ConfigError, DiscoveryError, SeedError } from '../../src/index.js';
import { pickSeeds, SeedDiscovery } from '../../src/runtime/discovery.js';
import type { DnsResolver, SrvAnswer } from '../../src/runtime/dns.js';
import { parseSeed, parseSeeds } from '../../src/runtime/seeds.js';
import type { Logger } from '../../src/runtime/api.js';
import { freePorts } from './procs.js';

type Answer<T> = T | string; // a string is an error code

/** A resolver whose zone the test edits between runs. */
class FakeDns implements DnsResolver {
  hosts = new Map<string, Answer<string[]>>();
  srvs = new Map<string, Answer<SrvAnswer[]>>();
  queries = 0;
  private answer<T>(a: Answer<T> | undefined, name: string): Promise<T> {
    this.queries++;
    if (a === undefined) a = 'ENOTFOUND';
    if (typeof a === 'string') return Promise.reject(Object.assign(new Error(`${a} ${name}`), { code: a }));
    return Promise.resolve(a);
  }
  addresses(host: string): Promise<readonly string[]> {
    return this.answer(this.hosts.get(host), host);
  }
  srv(name: string): Promise<readonly SrvAnswer[]> {
    return this.answer(this.srvs.get(name), name);
  }
}

const srv = (name: string, port: number, priority = 0): SrvAnswer => ({ name, port, priority, weight: 10 });

class SpyLog implements Logger {
  lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  debug(): void {}
  info(obj: object, msg = ''): void {
    this.lines.push({ level: 'info', msg, obj: obj as Record<string, unknown> });
  }
  warn(obj: object, msg = ''): void {
    this.lines.push({ level: 'warn', msg, obj: obj as Record<string, unknown> });
  }
  error(obj: object, msg = ''): void {
    this.lines.push({ level: 'error', msg, obj: obj as Record<string, unknown> });
  }
  take(): { level: string; msg: string }[] {
    const out = this.lines.map(({ level, msg }) => ({ level, msg }));
    this.lines = [];
    return out;
  }
}

function discovery(dns: FakeDns, seeds: string[], family?: 4 | 6) {
  const log = new SpyLog();
  const d = new SeedDiscovery({ resolver: dns, log, ...(family ? { family } : {}) });
  d.add(parseSeeds(seeds));
  return { d, log };
}

test('seed syntax: addresses, names and SRV names parse; every malformed seed says what to write', () => {
  assert.deepEqual(parseSeed('10.0.0.1:9111'), {
    kind: 'address',
    text: '10.0.0.1:9111',
    host: '10.0.0.1',
    port: 9111,
  });
  assert.deepEqual(parseSeed('[fd00::1]:7946'), {
    kind: 'address',
    text: '[fd00::1]:7946',
    host: 'fd00::1',
    port: 7946,
  });
  assert.deepEqual(parseSeed('sb-0.sb.default.svc.cluster.local.:9111'), {
    kind: 'address',
    text: 'sb-0.sb.default.svc.cluster.local.:9111',
    host: 'sb-0.sb.default.svc.cluster.local.',
    port: 9111,
  });
  assert.deepEqual(parseSeed('srv+_gossip._udp.sb.default.svc.cluster.local'), {
    kind: 'srv',
    text: 'srv+_gossip._udp.sb.default.svc.cluster.local',
    name: '_gossip._udp.sb.default.svc.cluster.local',
  });
  const bad: [unknown, RegExp][] = [
    ['sb.default', /port is missing: write "sb\.default:9111" \(or "srv\+sb\.default"/],
    ['srv+_gossip._udp.sb:9111', /takes its ports from the SRV records: write it without ":9111"/],
    ['srv+', /name is empty/],
    ['srv+bad..name', /empty label/],
    ['fd00::1:9111', /IPv6 address goes in brackets/],
    ['[fd00::1]', /port is missing: write "\[fd00::1\]:9111"/],
    ['[sb.local]:1', /brackets hold an IPv6 address/],
    ['host:0', /port must be a number from 1 to 65535 \(got "0"\)/],
    ['host:70000', /from 1 to 65535/],
    ['host:abc', /port must be a number/],
    [':9111', /host is missing/],
    ['-sb.local:1', /not a valid host name.*bad label "-sb"/],
    ['sb!.local:1', /not a valid host name/],
    [`${'a'.repeat(64)}.local:1`, /64 characters long; DNS allows 63/],
    [`${'abcdefgh.'.repeat(29)}x:1`, /DNS allows 253/],
    ['10.0.0:9111', /looks like an IPv4 address but is not one/],
    ['udp://10.0.0.1:9111', /not a URL/],
    [' 10.0.0.1:9111', /surrounding spaces/],
    ['', /empty/],
    [9111, /must be a string \(got number\)/],
  ];
  for (const [seed, why] of bad) {
    assert.throws(
      () => parseSeed(seed),
      (e: unknown) => e instanceof SeedError && e.code === 'SB_ERR_SEED' && why.test(e.message),
      `${JSON.stringify(seed)} -> ${why}`,
    );
  }
  // Every bad seed of a list at once, so one run fixes them all.
  assert.throws(
    () => parseSeeds(['a', 'b:1', 'c:0']),
    (e: unknown) =>
      e instanceof SeedError &&
      e.code === 'SB_ERR_SEED' &&
      /"a"/.test(e.message) &&
      /"c:0"/.test(e.message) &&
      !/"b:1"/.test(e.message),
  );
});

test('a host name yields every A and AAAA address; the socket family keeps its own, IP literals need no DNS', async () => {
  const dns = new FakeDns();
  dns.hosts.set('sb.default.svc', ['10.0.0.3', '10.0.0.1', 'fd00::7', '10.0.0.2', '10.0.0.1']);
  const both = discovery(dns, ['sb.default.svc:9111', '10.0.0.9:9000']);
  const r = await both.d.resolve();
  assert.deepEqual(r.addresses, ['10.0.0.1:9111', '10.0.0.2:9111', '10.0.0.3:9111', '10.0.0.9:9000', '[fd00::7]:9111']);
  assert.deepEqual(r.added, r.addresses);
  assert.equal(dns.queries, 1, 'the IP literal seed made no query');
  const v4 = await discovery(dns, ['sb.default.svc:9111'], 4).d.resolve();
  assert.deepEqual(v4.addresses, ['10.0.0.1:9111', '10.0.0.2:9111', '10.0.0.3:9111']);
  const v6 = await discovery(dns, ['sb.default.svc:9111'], 6).d.resolve();
  assert.deepEqual(v6.addresses, ['[fd00::7]:9111']);
  dns.hosts.set('v6only', ['fd00::1']);
  const wrong = await discovery(dns, ['v6only:1', '[fd00::2]:1'], 4).d.resolve();
  assert.deepEqual(wrong.addresses, []);
  assert.deepEqual(
    wrong.problems.map((p) => p.reason),
    ['wrong-family', 'wrong-family'],
  );
  assert.match(
    wrong.problems[0]!.message,
    /only IPv6 addresses and this node's socket is IPv4: listen on "\[::\]:PORT"/,
  );
});

test('an SRV seed yields every target at its own port, each target with all its addresses, whatever the priority', async () => {
  const dns = new FakeDns();
  dns.srvs.set('_gossip._udp.sb', [srv('sb-0.sb', 9111), srv('sb-1.sb.', 9222, 10), srv('10.0.0.50', 9333)]);
  dns.hosts.set('sb-0.sb', ['10.0.0.10', '10.0.0.11']);
  dns.hosts.set('sb-1.sb', ['10.0.0.20']);
  const { d } = discovery(dns, ['srv+_gossip._udp.sb']);
  const r = await d.resolve();
  assert.deepEqual(r.addresses, ['10.0.0.10:9111', '10.0.0.11:9111', '10.0.0.20:9222', '10.0.0.50:9333']);
  assert.deepEqual(r.problems, []);
});

test('re-resolution reports what appeared and what went away (pods come and go)', async () => {
  const dns = new FakeDns();
  dns.srvs.set('_g._udp.sb', [srv('a', 1), srv('b', 1)]);
  dns.hosts.set('a', ['10.0.0.1']);
  dns.hosts.set('b', ['10.0.0.2']);
  dns.hosts.set('web', ['10.0.1.1']);
  const { d } = discovery(dns, ['srv+_g._udp.sb', 'web:2']);
  assert.deepEqual((await d.resolve()).added, ['10.0.0.1:1', '10.0.0.2:1', '10.0.1.1:2']);
  const same = await d.resolve();
  assert.deepEqual([same.added, same.removed], [[], []]);
  dns.srvs.set('_g._udp.sb', [srv('a', 1), srv('c', 1)]); // b went, c came
  dns.hosts.set('c', ['10.0.0.3']);
  dns.hosts.set('web', ['10.0.1.1', '10.0.1.2']); // a second pod behind the name
  const next = await d.resolve();
  assert.deepEqual(next.added, ['10.0.0.3:1', '10.0.1.2:2']);
  assert.deepEqual(next.removed, ['10.0.0.2:1']);
  dns.hosts.set('a', ['10.0.0.9']); // a restarted at a new address, same target name
  const moved = await d.resolve();
  assert.deepEqual([moved.added, moved.removed], [['10.0.0.9:1'], ['10.0.0.1:1']]);
  assert.deepEqual(d.addresses, ['10.0.0.3:1', '10.0.0.9:1', '10.0.1.1:2', '10.0.1.2:2']);
});

test('DNS errors become typed DiscoveryErrors that say what to fix; one bad SRV target does not spoil the rest', async () => {
  const dns = new FakeDns();
  const cases: [string, () => void, string, RegExp][] = [
    [
      'srv+_g._udp.missing',
      () => dns.srvs.set('_g._udp.missing', 'ENOTFOUND'),
      'nxdomain',
      /does not exist \(NXDOMAIN\): check the spelling, the namespace and the port name/,
    ],
    [
      'srv+_g._udp.empty',
      () => dns.srvs.set('_g._udp.empty', 'ENODATA'),
      'no-records',
      /no SRV records: check the port name and protocol/,
    ],
    ['srv+_g._udp.none', () => dns.srvs.set('_g._udp.none', []), 'no-records', /no SRV records/],
    [
      'srv+_g._udp.slow',
      () => dns.srvs.set('_g._udp.slow', 'ETIMEOUT'),
      'timeout',
      /in time: check the DNS server \(dnsServers, or \/etc\/resolv\.conf\)/,
    ],
    ['srv+_g._udp.broken', () => dns.srvs.set('_g._udp.broken', 'ESERVFAIL'), 'server-failure', /SERVFAIL/],
    ['srv+_g._udp.refused', () => dns.srvs.set('_g._udp.refused', 'EREFUSED'), 'refused', /REFUSED/],
    [
      'srv+_g._udp.down',
      () => dns.srvs.set('_g._udp.down', 'ECONNREFUSED'),
      'unreachable-server',
      /no DNS server could be contacted/,
    ],
    ['srv+_g._udp.dot', () => dns.srvs.set('_g._udp.dot', [srv('', 0)]), 'no-service', /not offered \(target "\."\)/],
    [
      'srv+_g._udp.evil',
      () => dns.srvs.set('_g._udp.evil', [srv('bad name;rm', 1)]),
      'bad-srv-target',
      /malformed target: "bad name;rm" is not a valid host name/,
    ],
    [
      'srv+_g._udp.port0',
      () => dns.srvs.set('_g._udp.port0', [srv('a', 0)]),
      'bad-srv-target',
      /gives port 0 for a; ports are 1–65535/,
    ],
    [
      'srv+_g._udp.junk',
      () => dns.srvs.set('_g._udp.junk', [{ name: 7, port: 'x' } as unknown as SrvAnswer]),
      'bad-srv-target',
      /malformed target/,
    ],
    [
      'nohost:1',
      () => dns.hosts.set('nohost', 'ENOTFOUND'),
      'not-found',
      /does not resolve \(no such name, or no A\/AAAA records yet\)/,
    ],
    ['norecords:1', () => dns.hosts.set('norecords', 'ENODATA'), 'no-records', /exists but has no A\/AAAA records/],
    ['garbage:1', () => dns.hosts.set('garbage', ['not-an-ip', '']), 'no-records', /gave no usable address/],
    ['weird:1', () => dns.hosts.set('weird', 'EWHATEVER'), 'failed', /could not resolve "weird"/],
  ];
  for (const [seed, arrange, reason, message] of cases) {
    arrange();
    const r = await discovery(dns, [seed]).d.resolve();
    assert.deepEqual(r.addresses, [], seed);
    assert.equal(r.problems.length, 1, seed);
    const p = r.problems[0]!;
    assert.ok(p instanceof DiscoveryError, seed);
    assert.equal(p.code, 'SB_ERR_DISCOVERY', seed);
    assert.equal(p.reason, reason, `${seed}: ${p.message}`);
    // The resolver's own error stays reachable: the fake rejects with an Error whose code is the answer's string.
    const answer = seed.startsWith('srv+')
      ? dns.srvs.get(seed.slice(4))
      : dns.hosts.get(seed.slice(0, seed.indexOf(':')));
    if (typeof answer === 'string')
      assert.equal((p.cause as { code?: string } | undefined)?.code, answer, `${seed}: the cause keeps the DNS code`);
    else assert.equal(p.cause, undefined, `${seed}: no resolver error, no cause`);
    assert.match(p.message, message, seed);
    assert.ok(p.message.startsWith(`seed "${seed}": `), p.message);
  }
  // A resolver that throws something odd, or returns a non-array, is handled the same way.
  const odd: DnsResolver = {
    addresses: () => Promise.resolve(null as unknown as string[]),
    srv: () => Promise.reject(undefined),
  };
  const d = new SeedDiscovery({ resolver: odd });
  d.add(parseSeeds(['x:1', 'srv+y']));
  assert.deepEqual(
    (await d.resolve()).problems.map((p) => p.reason),
    ['no-records', 'failed'],
  );

  dns.srvs.set('_g._udp.mixed', [srv('ok', 1), srv('gone', 1), srv('bad..target', 1)]);
  dns.hosts.set('ok', ['10.0.0.1']);
  const mixed = await discovery(dns, ['srv+_g._udp.mixed']).d.resolve();
  assert.deepEqual(mixed.addresses, ['10.0.0.1:1']);
  assert.deepEqual(
    mixed.problems.map((p) => p.reason),
    ['not-found', 'bad-srv-target'],
  );
  assert.match(mixed.problems[0]!.message, /SRV target gone: "gone" does not resolve/);
});

test('a large SRV answer: every target resolved, at most 8 lookups at a time', async () => {
  let inFlight = 0;
  let most = 0;
  const many: DnsResolver = {
    srv: () => Promise.resolve(Array.from({ length: 50 }, (_, i) => srv(`pod-${i}.sb`, 9111))),
    async addresses(host) {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return [`10.0.1.${Number(/\d+/.exec(host)![0])}`];
    },
  };
  const d = new SeedDiscovery({ resolver: many });
  d.add(parseSeeds(['srv+_g._udp.sb']));
  const r = await d.resolve();
  assert.equal(r.addresses.length, 50);
  assert.equal(most, 8);
});

test('a broken seed is logged once per change, not once per run, and its recovery is logged', async () => {
  const dns = new FakeDns();
  dns.hosts.set('a', ['10.0.0.1']);
  const { d, log } = discovery(dns, ['a:1', 'b:1']);
  await d.resolve();
  assert.deepEqual(log.take(), [
    { level: 'info', msg: 'seed resolved' },
    {
      level: 'warn',
      msg: 'seed did not resolve: seed "b:1": "b" does not resolve (no such name, or no A/AAAA records yet): check the spelling and the search domain; a headless Service lists only ready pods',
    },
  ]);
  for (let i = 0; i < 5; i++) await d.resolve();
  assert.deepEqual(log.take(), [], 'nothing changed: nothing logged');
  dns.hosts.set('b', 'ETIMEOUT');
  await d.resolve();
  await d.resolve();
  const timedOut = log.take();
  assert.equal(timedOut.length, 1, 'a new error: one more warning');
  assert.match(
    `${timedOut[0]!.level} ${timedOut[0]!.msg}`,
    /^warn seed did not resolve: seed "b:1": no answer for "b" \(A\/AAAA\) in time/,
  );
  dns.hosts.set('b', ['10.0.0.2']);
  await d.resolve();
  await d.resolve();
  assert.deepEqual(log.take(), [{ level: 'info', msg: 'seed resolves again' }]);
  dns.hosts.set('a', ['10.0.0.1', '10.0.0.3']);
  await d.resolve();
  const [changed, ...rest] = log.lines;
  assert.equal(rest.length, 0);
  assert.equal(changed?.msg, 'seed addresses changed');
  assert.deepEqual([changed?.obj.added, changed?.obj.removed], [['10.0.0.3:1'], []]);
});

test('resolutions do not overlap: a second call waits for the one in flight; busy tells a timer to skip', async () => {
  let inFlight = 0;
  let most = 0;
  const slow: DnsResolver = {
    async addresses() {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 20));
      inFlight--;
      return ['10.0.0.1'];
    },
    srv: () => Promise.resolve([]),
  };
  const d = new SeedDiscovery({ resolver: slow });
  d.add(parseSeeds(['a:1']));
  const first = d.resolve();
  assert.equal(d.busy, true);
  const results = await Promise.all([first, d.resolve(), d.resolve()]);
  assert.equal(most, 1);
  assert.equal(d.busy, false);
  assert.deepEqual(
    results.map((r) => r.added.length),
    [1, 0, 0],
  );
});

test('the node: a malformed seed throws a SeedError, a seed that does not resolve rejects the join but the node runs on', async () => {
  const [port, other] = freePorts(2) as [number, number];
  const node = await createScuttlebutt(
    defaultLanConfig({
      node: { id: 'd', gossipPublicAddress: `127.0.0.1:${port}` },
      listenAddress: `127.0.0.1:${port}`,
      seedResolveIntervalMs: 50,
    }),
  );
  try {
    await assert.rejects(
      () => node.join(['srv+_g._udp.x:9111', 'nohost']),
      (e: unknown) =>
        e instanceof SeedError &&
        e.code === 'SB_ERR_SEED' &&
        /without ":9111"/.test(e.message) &&
        /"nohost"/.test(e.message),
    );
    assert.deepEqual(node.state().seeds, [], 'a rejected list adds no seed');
    await assert.rejects(
      () => node.join(['nohost.invalid:9111']),
      (e: unknown) =>
        e instanceof DiscoveryError &&
        e.code === 'SB_ERR_DISCOVERY' &&
        e.cause instanceof DiscoveryError &&
        /no seed gave an address \(retried every 50 ms\)/.test(e.message),
    );
    assert.deepEqual(node.state().seeds, ['nohost.invalid:9111'], 'kept, and retried');
    await new Promise((r) => setTimeout(r, 200));
    node.set('still', 'running');
    assert.equal(node.get('still'), 'running');
    // A real name through the system resolver (getaddrinfo: /etc/hosts) joins.
    await node.join([`localhost:${other}`]);
    assert.deepEqual(node.state().seeds, ['nohost.invalid:9111', `localhost:${other}`]);
  } finally {
    await node.shutdown();
  }
});

test('dnsServers: each must be an IP address with an optional port', async () => {
  const cfg = (dnsServers: unknown) =>
    defaultLanConfig({ listenAddress: '127.0.0.1:0', dnsServers: dnsServers as string[] });
  await assert.rejects(
    () => createScuttlebutt(cfg(['10.0.0.2', '127.0.0.1:8600', '[fd00::2]:53', 'dns.google', '10.0.0.2:0', 53])),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.code === 'SB_ERR_CONFIG' &&
      e.problems.length === 3 &&
      /dnsServers\[3\] must be an IP address.*a name would need DNS to find DNS/.test(e.problems[0]!) &&
      /dnsServers\[4\] has a port outside/.test(e.problems[1]!) &&
      /dnsServers\[5\] must be a string/.test(e.problems[2]!),
  );
  await assert.rejects(
    () => createScuttlebutt(cfg('10.0.0.2')),
    (e: unknown) =>
      e instanceof ConfigError && e.code === 'SB_ERR_CONFIG' && /dnsServers must be an array/.test(e.message),
  );
});

test('pickSeeds: a few seeds for the core, without self, kept while they stay in DNS, drawn afresh on rotate', () => {
  let x = 0;
  const random = () => (x = (x * 7 + 3) % 11) / 11;
  const all = Array.from({ length: 10 }, (_, i) => `10.0.0.${i}:1`);
  const first = pickSeeds([], all, '10.0.0.0:1', 3, random);
  assert.equal(first.length, 3);
  assert.ok(!first.includes('10.0.0.0:1'), 'never self');
  assert.deepEqual(
    pickSeeds(first, [...all].reverse(), '10.0.0.0:1', 3, random),
    first,
    'stable while all are still there',
  );
  const gone = first[1]!;
  const next = pickSeeds(
    first,
    all.filter((a) => a !== gone),
    '10.0.0.0:1',
    3,
    random,
  );
  assert.equal(next.length, 3);
  assert.ok(
    !next.includes(gone) && next.includes(first[0]!) && next.includes(first[2]!),
    'only the departed one replaced',
  );
  const draws = new Set(
    Array.from({ length: 20 }, () => pickSeeds(first, all, '10.0.0.0:1', 3, Math.random, true).join()),
  );
  assert.ok(draws.size > 1, 'rotate draws again');
  assert.deepEqual(
    pickSeeds([], ['10.0.0.1:1', '10.0.0.0:1'], '10.0.0.0:1', 3, random),
    ['10.0.0.1:1'],
    'fewer than count: all of them',
  );
});

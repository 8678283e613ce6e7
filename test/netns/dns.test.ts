/**
 * DNS discovery on real hosts with a real DNS server (dnsmasq in a namespace of the test bed). The
 * agents are given DNS names only, and the records change while they run, as pods come and go
 * behind a Kubernetes headless Service: the cluster forms, grows and heals through DNS alone.
 * Needs root, ip, nft and dnsmasq; skipped without them, except under CI=true, where it fails.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { waitFor, type NodeEvent, type NodeProc } from '../runtime/procs.js';
import {
  Dnsmasq,
  dnsmasqMissing,
  removeNamespaceResolver,
  setNamespaceResolver,
  sweepStaleResolvers,
  type Zone,
} from './dnsmasq.js';
import { GOSSIP_PORT, TestBed, unavailable } from './testbed.js';

const why = unavailable() ?? dnsmasqMissing();
const inCi = process.env.CI === 'true';
const cleanups: (() => void)[] = [];
after(() => cleanups.splice(0).forEach((f) => f()));

const DOMAIN = 'cluster.test';
const SERVICE = `scuttlebutt.default.svc.${DOMAIN}`; // the headless Service: one A record per ready pod
const SRV = `_gossip._udp.${SERVICE}`;
const RESOLVE_MS = 500;

/** The zone for these pods (agent index -> address). */
function zone(pods: ReadonlyMap<number, string>): Zone {
  const a: Record<string, string[]> = { [SERVICE]: [...pods.values()] };
  for (const [i, ip] of pods) a[`h${i}.${SERVICE}`] = [ip];
  return { a, srv: { [SRV]: [...pods.keys()].map((i) => [`h${i}.${SERVICE}`, GOSSIP_PORT] as const) } };
}

const liveIds = (p: NodeProc, since = 0): Set<string> => {
  // The latest live/dead event per member, from `since` on.
  const last = new Map<string, string>();
  for (const e of p.events)
    if ((e.event === 'live' || e.event === 'dead') && e.at >= since) last.set(e.id as string, e.event);
  return new Set([...last].filter(([, ev]) => ev === 'live').map(([id]) => id));
};
const logs = (
  p: NodeProc,
  pred: (e: NodeEvent & { level?: string; msg?: string; seed?: string; reasons?: string[] }) => boolean,
) =>
  (p.events as (NodeEvent & { level?: string; msg?: string; seed?: string; reasons?: string[] })[]).filter(
    (e) => e.event === 'log' && pred(e),
  );

test(
  'DNS discovery: a cluster forms from A and SRV records, finds a pod that appears only in DNS, convicts a removed one, takes back one restarted at a new address',
  { skip: inCi ? false : (why ?? false), timeout: 120_000 },
  async () => {
    if (why) assert.fail(`cannot run the DNS test here (CI=true: this must not skip): ${why}`);
    sweepStaleResolvers();
    // Hosts 0-4 run agents; host 5 runs the DNS server.
    const bed = new TestBed(6);
    cleanups.push(() => bed.close());
    const dnsIp = bed.addresses[5] as string;
    const dns = new Dnsmasq(bed.hosts[5] as string, dnsIp, DOMAIN);
    cleanups.push(() => dns.stop());
    for (const ns of bed.hosts) cleanups.push(() => removeNamespaceResolver(ns));
    // Hosts 0-3 find the server through their resolv.conf, like a pod. Host 4's resolv.conf names a
    // server that does not exist; it is given dnsServers instead.
    for (const i of [0, 1, 2, 3]) setNamespaceResolver(bed.hosts[i] as string, [dnsIp]);
    setNamespaceResolver(bed.hosts[4] as string, ['10.254.254.254']);

    const pods = new Map<number, string>([0, 1, 2, 4].map((i) => [i, bed.addresses[i] as string]));
    await dns.serve(zone(pods));
    // dnsmasq listens on its namespace address only (UDP and TCP 53), nowhere else.
    const sockets = execFileSync('ip', ['netns', 'exec', bed.hosts[5] as string, 'ss', '-Hlntup'])
      .toString()
      .trim()
      .split('\n');
    assert.deepEqual(sockets.map((l) => l.split(/\s+/)[4]).sort(), [`${dnsIp}:53`, `${dnsIp}:53`], sockets.join('\n'));
    const common = { resolveMs: RESOLVE_MS, log: true };
    // Every agent is given DNS names only: SRV for most, the Service's A records for h1; h0 also
    // has a seed that does not exist, which must cost one warning and nothing else.
    bed.start(0, { ...common, seeds: [`srv+${SRV}`, `srv+_nope._udp.${SERVICE}`] });
    bed.start(1, { ...common, seeds: [`${SERVICE}:${GOSSIP_PORT}`] });
    bed.start(2, { ...common, seeds: [`srv+${SRV}`] });
    bed.start(4, { ...common, seeds: [`srv+${SRV}`], dnsServers: [dnsIp] });
    const agents = () => [0, 1, 2, 3, 4].flatMap((i) => (bed.procs[i] && !bed.procs[i]!.exited ? [bed.procs[i]!] : []));
    const t0 = Date.now();
    await waitFor(
      () => [0, 1, 2, 4].every((i) => liveIds(bed.procs[i]!).size === 3),
      15_000,
      'h0, h1, h2, h4 see each other',
    );
    const formed = Date.now() - t0;
    for (const p of agents())
      assert.ok(
        !p.has((e) => e.event === 'join-failed'),
        `${p.id} joined: ${JSON.stringify(p.events.find((e) => e.event === 'join-failed'))}`,
      );
    assert.deepEqual(
      logs(bed.procs[1]!, (e) => e.msg === 'seed resolved')[0]?.['addresses' as keyof NodeEvent],
      [0, 1, 2, 4].map((i) => `${bed.addresses[i]}:${GOSSIP_PORT}`).sort(),
      'a name with four A records gave four seeds',
    );

    // A pod appears, in DNS only: h3 is given no seed at all, so only the others' re-resolution can find it.
    const h3 = bed.start(3, { ...common, seeds: [] });
    await waitFor(() => h3.has((e) => e.event === 'ready'), 10_000, 'h3 ready');
    await new Promise((r) => setTimeout(r, 3 * RESOLVE_MS));
    assert.equal(liveIds(h3).size, 0, 'nobody found h3 before DNS had it');
    pods.set(3, bed.addresses[3] as string);
    const t1 = Date.now();
    await dns.serve(zone(pods));
    await waitFor(
      () => agents().every((p) => liveIds(p).size === 4),
      15_000,
      'all five see each other, h3 found through DNS',
    );
    const foundNew = Date.now() - t1;

    // A pod goes: its records are removed first (as Kubernetes does on termination), then it is killed.
    pods.delete(1);
    await dns.serve(zone(pods));
    await new Promise((r) => setTimeout(r, 2 * RESOLVE_MS));
    const t2 = Date.now();
    bed.procs[1]!.kill('SIGKILL');
    const others = () => agents().filter((p) => p.id !== 'h1');
    await waitFor(
      () => others().every((p) => p.has((e) => e.event === 'dead' && e.id === 'h1' && e.at >= t2)),
      15_000,
      'h1 dead on every host',
    );
    const convicted = Date.now() - t2;

    // A pod restarts at a new address: same name, new A record; it rejoins through DNS.
    bed.procs[2]!.kill('SIGKILL');
    const moved = bed.addresses[2]!.replace(/\.\d+$/, '.102');
    execFileSync('ip', ['-n', bed.hosts[2] as string, 'addr', 'add', `${moved}/24`, 'dev', 'eth0']);
    pods.set(2, moved);
    await dns.serve(zone(pods)); // an A change only: the SRV record still names h2.scuttlebutt...
    const t3 = Date.now();
    const h2 = bed.start(2, { ...common, host: moved, seeds: [`srv+${SRV}`] });
    await waitFor(() => h2.has((e) => e.event === 'ready'), 10_000, 'h2 restarted');
    const gen = h2.events.find((e) => e.event === 'ready')!.generation;
    await waitFor(
      () =>
        others().every((p) => p === h2 || p.has((e) => e.event === 'live' && e.id === 'h2' && e.generation === gen)) &&
        liveIds(h2, t3).size === 3,
      15_000,
      'the restarted h2 is live everywhere at its new address, and sees h0, h3, h4',
    );
    const rejoined = Date.now() - t3;
    for (const p of others()) {
      if (p === h2) continue;
      const m = (await p.query('state')).state!.live.find((x) => x.id === 'h2') as
        { generation: number; address?: string } | undefined;
      assert.equal(m?.generation, gen, `${p.id} holds the new h2`);
    }

    // Bad input cost nothing: the missing SRV name was warned about once, in all those re-resolutions.
    // A warning comes again only when the reason changes (a loaded DNS server may time out once in between).
    const nope = logs(bed.procs[0]!, (e) => e.level === 'warn' && e.seed === `srv+_nope._udp.${SERVICE}`);
    assert.match(nope[0]!.msg!, /does not exist \(NXDOMAIN\)/);
    for (let k = 1; k < nope.length; k++)
      assert.notDeepEqual(nope[k]!.reasons, nope[k - 1]!.reasons, `warned twice in a row: ${JSON.stringify(nope)}`);
    assert.ok(nope.length <= 3, JSON.stringify(nope));
    for (const p of agents()) assert.ok(!p.exited, `${p.id} still running`);
    console.log(
      `# dns: formed in ${formed} ms, new pod found in ${foundNew} ms, removed pod convicted in ${convicted} ms, moved pod rejoined in ${rejoined} ms (resolve every ${RESOLVE_MS} ms)`,
    );
    bed.close();
    dns.stop();
  },
);

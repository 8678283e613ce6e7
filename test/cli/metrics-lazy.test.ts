/**
 * prom-client loads at the first scrape, not with the agent (metrics-held.ts): nothing the agent imports loads it,
 * and the first scrape still reports what was counted before it, histograms to the bucket and the bit of the sum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { createScuttlebutt } from '../../src/index.js';
import { AGENT } from '../../src/cli/agent.js';
import { instrument } from '../../src/cli/metrics.js';
import { channels, type MemberMessage, type PacketMessage } from '../../src/runtime/diagnostics.js';
import { freePorts, loopbackConfig, waitFor } from '../runtime/procs.js';

const require = createRequire(import.meta.url);
const promClientLoaded = (): boolean => Object.keys(require.cache).some((k) => k.includes(`${sep}prom-client${sep}`));

/** The sample lines of `name` (a histogram's _bucket, _sum and _count) with `filter` in their labels. */
const samples = (text: string, name: string, filter = ''): string[] =>
  text.split('\n').filter((l) => l.startsWith(`${name}_`) && l.includes(filter));

test('prom-client is not loaded before the first scrape, which reports every count from before it', async () => {
  assert.ok(AGENT.run, 'the agent command, with every module it imports, is loaded');
  const [pa, pb] = freePorts(2) as [number, number];
  const cfg = loopbackConfig;
  const a = await createScuttlebutt(cfg('a', pa));
  const metrics = instrument(a);
  const cpuAtStart = process.cpuUsage();
  let collections = 0;
  const gcs = new PerformanceObserver((list) => void (collections += list.getEntries().length));
  gcs.observe({ entryTypes: ['gc'] });
  // The same observations, as they happen, for prom-client's own histograms to take afterwards.
  const sizesIn: number[] = [];
  const detections: number[] = [];
  const onPacket = (m: unknown): void =>
    void ((m as PacketMessage).node === a && sizesIn.push((m as PacketMessage).bytes));
  const onMember = (m: unknown): void => {
    const msg = m as MemberMessage;
    if (msg.node === a && msg.silenceMs !== undefined) detections.push(msg.silenceMs / 1000);
  };
  diagnostics_channel.subscribe(channels.packetIn, onPacket);
  diagnostics_channel.subscribe(channels.member, onMember);
  const b = await createScuttlebutt(cfg('b', pb));
  try {
    await b.join([`127.0.0.1:${pa}`]);
    await waitFor(() => a.stats().liveMembers === 2, 5_000, 'a sees b');
    await new Promise((r) => setTimeout(r, 1000)); // exchanges, for the packet sizes
    await b.shutdown({ leave: false });
    await waitFor(() => a.stats().deadMembers === 1, 15_000, 'a convicts b');
    assert.ok(
      sizesIn.length > 10 && detections.length === 1,
      `${sizesIn.length} packets in, detections ${detections.join()}`,
    );

    let garbage: unknown[] = [];
    for (let i = 0; i < 200_000; i++) garbage.push({ i }); // a young collection or more, before the scrape
    garbage = [];
    await new Promise((r) => setImmediate(r)); // gc entries are delivered on a later turn
    assert.ok(collections > 0 && garbage.length === 0);
    assert.equal(promClientLoaded(), false, 'prom-client is not loaded before the first scrape');
    assert.equal(metrics.registry.isLoaded, false);
    const cpuBefore = process.cpuUsage(cpuAtStart);
    const text = await metrics.text();
    assert.equal(promClientLoaded(), true, 'the first scrape loaded it');

    const prom = await import('prom-client');
    const registry = new prom.Registry();
    const sizes = new prom.Histogram({
      name: 'scuttlebutt_packet_size_bytes',
      help: 'reference',
      labelNames: ['direction'],
      buckets: [64, 128, 256, 512, 1024, 1432, 2048, 4096, 8192, 16384, 32768, 65507],
      registers: [registry],
    });
    for (const bytes of sizesIn) sizes.observe({ direction: 'in' }, bytes);
    const detection = new prom.Histogram({
      name: 'scuttlebutt_detection_seconds',
      help: 'reference',
      buckets: [0.5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60],
      registers: [registry],
    });
    for (const s of detections) detection.observe(s);
    const reference = await registry.metrics();
    for (const [name, filter] of [
      ['scuttlebutt_packet_size_bytes', 'direction="in"'],
      ['scuttlebutt_detection_seconds', ''],
    ] as const) {
      const want = samples(reference, name, filter);
      assert.equal(want.length, name === 'scuttlebutt_detection_seconds' ? 18 : 15);
      assert.deepEqual(samples(text, name, filter), want, `${name}: buckets, sum and count as prom-client's`);
    }
    assert.match(text, /^scuttlebutt_member_events_total\{type="live"\} 1$/m);
    assert.match(text, /^scuttlebutt_member_events_total\{type="dead"\} 1$/m);
    assert.match(text, /^scuttlebutt_event_loop_delay_seconds_count [1-9]/m);
    const cpu = /^process_cpu_seconds_total ([0-9.e-]+)$/m.exec(text);
    const gcCount = samples(text, 'nodejs_gc_duration_seconds')
      .filter((l) => l.startsWith('nodejs_gc_duration_seconds_count'))
      .reduce((n, l) => n + Number(l.split(' ')[1]), 0);
    assert.ok(
      gcCount >= collections,
      `nodejs_gc_duration_seconds counts the ${collections} collections before: ${gcCount}`,
    );
    const usedBefore = (cpuBefore.user + cpuBefore.system) / 1e6;
    assert.ok(
      cpu && Number(cpu[1]) >= usedBefore,
      `process_cpu_seconds_total ${cpu?.[1]} counts the ${usedBefore} s used before the first scrape`,
    );
  } finally {
    gcs.disconnect();
    diagnostics_channel.unsubscribe(channels.packetIn, onPacket);
    diagnostics_channel.unsubscribe(channels.member, onMember);
    await Promise.all([a.shutdown(), b.shutdown()]);
  }
});

test("the first scrape starts no GC observer of prom-client's; its default metrics keep their names and types", async () => {
  // nodejs_gc_duration_seconds is the agent's own (counted from the start): the first test checks its counts.
  const [pa] = freePorts(1) as [number];
  const a = await createScuttlebutt(loopbackConfig('a', pa));
  const metrics = instrument(a);
  // prom-client's `gc` default metric observes V8's collections with a PerformanceObserver of its own: count them.
  let gcObservers = 0;
  const observe = PerformanceObserver.prototype.observe;
  PerformanceObserver.prototype.observe = function (this: PerformanceObserver, options) {
    const o = options as { entryTypes?: readonly string[]; type?: string } | undefined;
    const types = [...(o?.entryTypes ?? []), ...(o?.type ? [o.type] : [])];
    if (types.includes('gc')) gcObservers++;
    return observe.call(this, options);
  };
  let text: string;
  try {
    text = await metrics.text();
  } finally {
    PerformanceObserver.prototype.observe = observe;
  }
  try {
    assert.equal(gcObservers, 0, "the first scrape started a GC observer beside the agent's own");
    // prom-client's defaults as collectDefaultMetrics registers them, less the three the agent drops.
    const prom = await import('prom-client');
    const reference = new prom.Registry();
    prom.collectDefaultMetrics({ register: reference, eventLoopMonitoringPrecision: 2 ** 31 - 1 });
    const dropped = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
    const heads = (t: string): string[] =>
      t
        .split('\n')
        .filter((l) => /^# TYPE (nodejs|process)_/.test(l) && !dropped.some((d) => l.startsWith(`# TYPE ${d} `)))
        .sort();
    assert.deepEqual(heads(text), heads(await reference.metrics()));
  } finally {
    await a.shutdown();
  }
});

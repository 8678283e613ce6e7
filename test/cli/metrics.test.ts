/**
 * /metrics over real agent processes: three agents, one SIGKILLed, a survivor's exposition parsed
 * strictly as Prometheus text 0.0.4 here, and by Prometheus' own promtool when it is installed
 * (.ci/setup-system.sh puts it there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createScuttlebutt } from '../../src/index.js';
import { prometheusText } from '../../src/cli/metrics.js';
import { freePorts, loopbackConfig, waitFor } from '../runtime/procs.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const base = 24_000 + (process.pid % 1000) * 6;

interface Sample {
  labels: Record<string, string>;
  value: number;
}
interface Family {
  type: string;
  help: string;
  samples: Map<string, Sample[]>;
}

/** A strict reader of the text format: every line is a HELP, a TYPE or a sample of a declared family. */
function parse(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const suffixes: Record<string, string[]> = {
    counter: [''],
    gauge: [''],
    histogram: ['_bucket', '_sum', '_count'],
    summary: ['', '_sum', '_count'],
    untyped: [''],
  };
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // blank lines are allowed between families
    let m: RegExpMatchArray | null;
    if ((m = line.match(new RegExp(`^# HELP (${NAME}) (.*)$`)))) {
      const f = families.get(m[1] as string);
      if (f) f.help = m[2] as string;
      else families.set(m[1] as string, { type: '', help: m[2] as string, samples: new Map() });
      continue;
    }
    if ((m = line.match(new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)))) {
      const f = families.get(m[1] as string);
      assert.ok(f && f.type === '' && f.samples.size === 0, `TYPE ${m[1]} after its samples or twice`);
      f.type = m[2] as string;
      continue;
    }
    m = line.match(new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`));
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const name = m[1] as string;
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y;
    for (let at = 0; at < body.length;) {
      labelRe.lastIndex = at;
      const l = labelRe.exec(body);
      assert.ok(l, `bad labels in ${line}`);
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = labelRe.lastIndex;
    }
    const raw = m[3] as string;
    // Prometheus reads values with Go's ParseFloat: Inf and NaN in any case (prom-client writes "Nan").
    const special = raw.toLowerCase();
    const value =
      special === '+inf' || special === 'inf'
        ? Infinity
        : special === '-inf'
          ? -Infinity
          : special === 'nan'
            ? NaN
            : Number(raw);
    assert.ok(special === 'nan' || !Number.isNaN(value), `bad value in ${line}`);
    const family = [...families.entries()].find(
      ([f, d]) => d.type !== '' && (suffixes[d.type] as string[]).some((s) => `${f}${s}` === name),
    );
    assert.ok(family, `sample ${name} of no declared family`);
    const list = family[1].samples.get(name) ?? [];
    list.push({ labels, value });
    family[1].samples.set(name, list);
  }
  for (const [name, f] of families) assert.ok(f.type !== '', `${name} has HELP but no TYPE`);
  return families;
}

/** Checks a histogram's invariants and returns its series by their labels other than le. */
function histogram(
  families: Map<string, Family>,
  name: string,
): Map<string, { buckets: [number, number][]; sum: number; count: number }> {
  const f = families.get(name);
  assert.equal(f?.type, 'histogram', `${name} is a histogram`);
  const series = new Map<string, { buckets: [number, number][]; sum: number; count: number }>();
  const key = (l: Record<string, string>): string =>
    JSON.stringify(
      Object.entries(l)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  const get = (k: string) =>
    series.get(k) ??
    (series.set(k, { buckets: [], sum: NaN, count: NaN }).get(k) as {
      buckets: [number, number][];
      sum: number;
      count: number;
    });
  for (const s of f.samples.get(`${name}_bucket`) ?? [])
    get(key(s.labels)).buckets.push([Number(s.labels.le === '+Inf' ? Infinity : s.labels.le), s.value]);
  for (const s of f.samples.get(`${name}_sum`) ?? []) get(key(s.labels)).sum = s.value;
  for (const s of f.samples.get(`${name}_count`) ?? []) get(key(s.labels)).count = s.value;
  for (const [k, h] of series) {
    assert.ok(h.buckets.length >= 2, `${name}${k}: buckets`);
    for (let i = 1; i < h.buckets.length; i++) {
      const [le0, n0] = h.buckets[i - 1] as [number, number];
      const [le1, n1] = h.buckets[i] as [number, number];
      assert.ok(le1 > le0 && n1 >= n0, `${name}${k}: buckets ascend and are cumulative`);
    }
    assert.equal(h.buckets.at(-1)?.[0], Infinity, `${name}${k}: ends with +Inf`);
    assert.equal(h.buckets.at(-1)?.[1], h.count, `${name}${k}: +Inf bucket equals _count`);
    assert.ok(Number.isFinite(h.sum), `${name}${k}: _sum`);
  }
  return series;
}

const one = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => {
  const s = families
    .get(name)
    ?.samples.get(name)
    ?.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s, `${name}${JSON.stringify(labels)} present`);
  return s.value;
};

test('/metrics of a real agent: Prometheus text with detection, packet-size and event-loop histograms and process metrics', async (t) => {
  const procs: ChildProcess[] = [];
  const http = (i: number): string => `127.0.0.1:${base + 2 * i + 1}`;
  const scrape = async (i: number): Promise<{ text: string; type: string | null }> => {
    const res = await fetch(`http://${http(i)}/metrics`);
    return { text: await res.text(), type: res.headers.get('content-type') };
  };
  const spawnedAt = Date.now();
  try {
    for (let i = 0; i < 3; i++) {
      const args = [
        'agent',
        '--bind',
        `127.0.0.1:${base + 2 * i}`,
        '--http',
        http(i),
        '--node-id',
        `m${i}`,
        '--interval-ms',
        '200',
        '--log-level',
        'silent',
      ];
      if (i > 0) args.push('--join', `127.0.0.1:${base}`);
      procs.push(spawn(process.execPath, [MAIN, ...args], { stdio: 'ignore' }));
    }
    const live = async (i: number): Promise<number> =>
      one(parse((await scrape(i)).text), 'scuttlebutt_members', { status: 'live' });
    await waitFor(
      async () => (await Promise.all([0, 1, 2].map((i) => live(i).catch(() => 0)))).every((n) => n === 3),
      10_000,
      'three agents see three',
    );
    await new Promise((r) => setTimeout(r, 1500)); // heartbeats for the detector to learn from
    const killedAt = Date.now();
    procs[2]?.kill('SIGKILL');
    let families = new Map<string, Family>();
    await waitFor(
      async () => {
        families = parse((await scrape(0)).text);
        return histogram(families, 'scuttlebutt_detection_seconds').get('[]')?.count === 1;
      },
      15_000,
      'm0 convicts m2, and the detection histogram holds it',
    );
    const killToScrape = (Date.now() - killedAt) / 1000;
    const { text, type } = await scrape(0);
    assert.equal(type, 'text/plain; version=0.0.4; charset=utf-8');
    families = parse(text);

    // The totals of today, from stats().
    assert.equal(families.get('scuttlebutt_packets_received_total')?.type, 'counter');
    assert.equal(one(families, 'scuttlebutt_members', { status: 'live' }), 2);
    assert.equal(one(families, 'scuttlebutt_members', { status: 'dead' }), 1);
    assert.equal(one(families, 'scuttlebutt_member_events_total', { type: 'dead' }), 1);
    assert.equal(one(families, 'scuttlebutt_node_info', { node_id: 'm0' }), 1);
    // Protocol 6 configured: mode 6, and no gate to hold it.
    assert.equal(one(families, 'scuttlebutt_liveness_mode'), 6);
    assert.equal(one(families, 'scuttlebutt_liveness_gate_members', { reason: 'not-speaking' }), 0);
    assert.equal(one(families, 'scuttlebutt_liveness_census_total', { what: 'never-heard' }), 0);

    // Detection: one conviction, its silence a few seconds and no more than kill-to-scrape plus one period and gossip
    // lag.
    const detection = histogram(families, 'scuttlebutt_detection_seconds').get('[]');
    assert.ok(
      detection && detection.sum > 1 && detection.sum < killToScrape + 0.6,
      `detected in ${detection?.sum} s, ${killToScrape} s after the kill`,
    );

    // Packet sizes, in and out, as many as the counters say.
    const sizes = histogram(families, 'scuttlebutt_packet_size_bytes');
    const inbound = sizes.get(JSON.stringify([['direction', 'in']]));
    const outbound = sizes.get(JSON.stringify([['direction', 'out']]));
    assert.ok(inbound && outbound, 'in and out series');
    assert.ok(inbound.count >= one(families, 'scuttlebutt_packets_received_total') && inbound.count > 10);
    assert.ok(outbound.count >= one(families, 'scuttlebutt_packets_sent_total') && outbound.count > 10);
    assert.ok(inbound.sum >= one(families, 'scuttlebutt_bytes_received_total'));
    assert.ok((outbound.buckets[0]?.[1] ?? 0) > 0, 'some packets under 64 bytes (idle digests)');

    // Flow control, from stats().flowControl.
    assert.equal(families.get('scuttlebutt_flow_rate')?.type, 'gauge');
    assert.ok(one(families, 'scuttlebutt_flow_rate') > 0);
    assert.equal(families.get('scuttlebutt_flow_underflows_total')?.type, 'counter');
    // Errors and lost events have their own counters, present at zero from the start.
    assert.equal(one(families, 'scuttlebutt_errors_total', { kind: 'listener' }), 0);
    assert.equal(one(families, 'scuttlebutt_errors_total', { kind: 'internal' }), 0);
    assert.equal(one(families, 'scuttlebutt_events_overflowed_total'), 0);

    // Event loop and process.
    // Once a second, no faster: a sampler is a wake-up of an otherwise idle process.
    const loopSamples = histogram(families, 'scuttlebutt_event_loop_delay_seconds').get('[]')?.count ?? 0;
    const upS = (Date.now() - spawnedAt) / 1000;
    assert.ok(
      loopSamples >= 2 && loopSamples <= upS + 1,
      `event-loop delay sampled once a second: ${loopSamples} samples in ${upS.toFixed(1)} s`,
    );
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      assert.equal(families.get(name)?.type, 'gauge', name);
    }
    // How late the loop runs, not how long the sampler's interval is (monitorEventLoopDelay at a 1 s resolution
    // records whole intervals: about 1 s a tick, however idle the loop).
    const lagP50 = one(families, 'nodejs_eventloop_lag_p50_seconds');
    assert.ok(lagP50 >= 0 && lagP50 < 0.5, `nodejs_eventloop_lag_p50_seconds ${lagP50}: a lag, not an interval`);
    assert.ok(one(families, 'process_cpu_seconds_total') > 0);
    assert.ok(one(families, 'process_resident_memory_bytes') > 10e6);
    histogram(families, 'nodejs_gc_duration_seconds');

    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error)
      t.diagnostic('promtool not installed: checked by the parser here only (bash .ci/setup-system.sh installs it)');
    else assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
});

test('/metrics counts errors and lost events apart from dropped packets', async () => {
  const [pa, pb] = freePorts(2) as [number, number];
  const cfg = loopbackConfig;
  const a = await createScuttlebutt(cfg('a', pa));
  const b = await createScuttlebutt(cfg('b', pb));
  const stop = new AbortController();
  try {
    a.on('live', () => {
      throw new Error('a broken listener');
    });
    a.events({ signal: stop.signal, buffer: 1 }); // never read: every event past the first overflows
    await b.join([`127.0.0.1:${pa}`]);
    b.set('k', 'v');
    await waitFor(
      () => a.stats().errors.listener >= 1 && a.stats().eventsOverflowed >= 1,
      5_000,
      'a listener error and an overflow',
    );
    const families = parse(await prometheusText(a));
    const s = a.stats();
    assert.equal(families.get('scuttlebutt_errors_total')?.type, 'counter');
    assert.match(families.get('scuttlebutt_errors_total')?.help ?? '', /listener.*internal/);
    assert.equal(one(families, 'scuttlebutt_errors_total', { kind: 'listener' }), s.errors.listener);
    assert.equal(one(families, 'scuttlebutt_errors_total', { kind: 'internal' }), 0);
    assert.equal(families.get('scuttlebutt_events_overflowed_total')?.type, 'counter');
    assert.equal(one(families, 'scuttlebutt_events_overflowed_total'), s.eventsOverflowed);
    const dropReasons = (
      families.get('scuttlebutt_packets_dropped_total')?.samples.get('scuttlebutt_packets_dropped_total') ?? []
    ).map((x) => x.labels.reason);
    for (const reason of ['listener-error', 'event-overflow', 'internal-error'])
      assert.ok(!dropReasons.includes(reason), `${reason} is not a dropped packet: ${dropReasons.join()}`);
  } finally {
    stop.abort();
    await Promise.all([a.shutdown(), b.shutdown()]);
  }
});

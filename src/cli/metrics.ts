/**
 * The agent's /metrics, built with prom-client from what the library publishes: stats() for the
 * totals, its diagnostics channels (src/runtime/diagnostics.ts) for the histograms. The library
 * itself depends on no metrics package; only the agent does, and it loads prom-client at the first
 * scrape (metrics-held.ts).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { constants, createHistogram, PerformanceObserver, type RecordableHistogram } from 'node:perf_hooks';
import type { Counter, Gauge, LabelValues, Registry } from 'prom-client';
import { HeldCounts, HeldHistogram, LazyRegistry, PROMETHEUS_CONTENT_TYPE, type PromClient } from './metrics-held.js';
import {
  channels,
  type MemberMessage,
  type NodeMessage,
  type PacketMessage,
  type StallMessage,
  type ThrottleMessage,
} from '../runtime/diagnostics.js';
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';

/** The Content-Type to serve metricsText() with (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE: string = PROMETHEUS_CONTENT_TYPE;

/**
 * The event-loop delay sampler's period: each tick observes how late it fired. Every timer wakes an
 * idle process, and an idle agent wakes only a few times a second for gossip, so a faster sampler
 * would cost more CPU than the gossip it watches. Once a second still sees every stall longer than a
 * second (the ones that make peers look silent: the default acceptable pause is 3 s) as one
 * observation of about its length; a shorter one is caught in proportion to its length.
 */
const LOOP_SAMPLE_MS = 1000;
/**
 * The resolution given to prom-client's `monitorEventLoopDelay` (behind `nodejs_eventloop_lag_{min,...}`): the
 * longest a timer waits (24.8 days), so that it never fires. Its own timer would be a second wake-up a second for
 * the same look the sampler above already takes (its default, 10 ms, was 100 a second, a third of an idle agent's
 * CPU); and at a 1 s resolution it records each whole interval, so its gauges read about 1 s however idle the loop.
 * The sampler's ticks feed those gauges instead (`loopLag` below).
 */
const LOOP_MONITOR_NEVER_MS = 2 ** 31 - 1;
/** prom-client's gauges over `monitorEventLoopDelay`, replaced by ones over the sampler's ticks. */
const LOOP_LAG_GAUGES = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;
type LoopLagStat = (typeof LOOP_LAG_GAUGES)[number];

/** prom-client's name for each kind of V8 collection (its nodejs_gc_duration_seconds). */
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** One of prom-client's default metrics (its lib/metrics/NAME.js): registers its metrics in `registry`. */
type DefaultMetric = (registry: Registry, config: { eventLoopMonitoringPrecision: number }) => void;

const require = createRequire(import.meta.url);

/**
 * prom-client's collectDefaultMetrics without its `gc` one, each called as collectDefaultMetrics calls it (the list is
 * its own, `metricsList`): that one starts a PerformanceObserver of V8's collections beside AgentMetrics's own, which
 * counts them from the start and takes its name. Twin observers would each wake for every collection.
 */
function collectDefaultMetricsButGc(prom: PromClient, registry: Registry): void {
  const config = { eventLoopMonitoringPrecision: LOOP_MONITOR_NEVER_MS };
  for (const name of prom.collectDefaultMetrics.metricsList) {
    if (name === 'gc') continue;
    (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, config);
  }
}

/** The metrics made in prom-client at the first scrape. */
interface Made {
  readonly packetsIn: Counter;
  readonly packetsOut: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly rounds: Counter;
  readonly dropped: Counter<'reason'>;
  readonly errors: Counter<'kind'>;
  readonly eventsOverflowed: Counter;
  readonly rejected: Counter<'reason'>;
  readonly userEvents: Counter<'outcome'>;
  readonly queries: Counter<'outcome'>;
  readonly members: Gauge<'status'>;
  readonly liveness: {
    mode: Gauge;
    held: Gauge<'reason'>;
    refused: Counter<'reason'>;
    census: Counter<'what'>;
  };
  readonly localStalls: Counter;
  readonly replay: Record<'streams' | 'deepestReorder', Gauge>;
  readonly flow: {
    gauges: Record<'rate' | 'backlog' | 'oldestWaitMs', Gauge>;
    counters: Record<'overflows' | 'underflows' | 'decreases' | 'increases' | 'shares', Counter>;
  };
  readonly throttles: Counter;
  readonly loopLagGauges: Record<LoopLagStat, Gauge>;
}

/**
 * One node's metrics. Histograms count from construction on; instrument() the node as soon as it exists.
 * prom-client is loaded at the first scrape (text()), and reports what was counted before it.
 */
export class AgentMetrics {
  readonly registry = new LazyRegistry();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly loopTimer: NodeJS.Timeout;
  private stalls = 0;
  private closed = false;
  private throttles = 0;
  private made: Made | undefined;
  /** CPU used when prom-client's process_cpu_* counters would have started, had it been loaded then. */
  private readonly cpuAtStart = process.cpuUsage();
  private readonly events = new HeldCounts(
    'scuttlebutt_member_events_total',
    'Membership events, by type (live, dead, update, removed).',
    ['type'],
  );
  private readonly detection = new HeldHistogram(
    'scuttlebutt_detection_seconds',
    "Suspected deaths: seconds from the birth of the member's newest heartbeat held here to its conviction " +
      '(the crash came at most one heartbeat period after that birth).',
    [0.5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60],
  );
  private readonly packetBytes = new HeldHistogram(
    'scuttlebutt_packet_size_bytes',
    'UDP payload sizes, envelope included, by direction (in, out).',
    [64, 128, 256, 512, 1024, 1432, 2048, 4096, 8192, 16384, 32768, 65507],
    ['direction'],
  );
  private readonly loopDelay = new HeldHistogram(
    'scuttlebutt_event_loop_delay_seconds',
    `How late a ${LOOP_SAMPLE_MS / 1000} s timer fires: one observation per tick, ` +
      'so a stall of S seconds (S > 1) is one observation of about S. Delays like these are what make peers ' +
      'look silent.',
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  /** prom-client's nodejs_gc_duration_seconds, counted from the start as its default metrics would have. */
  private readonly gc = new HeldHistogram(
    'nodejs_gc_duration_seconds',
    'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    [0.001, 0.01, 0.1, 1, 2, 5],
    ['kind'],
  );
  /**
   * The sampler's delays (ns) since the last scrape, behind nodejs_eventloop_lag_{min,...}_seconds: up to an hour, to
   * two significant figures (about 30 KB of counts; node's default range and three figures take 350 KB).
   */
  private readonly loopLag: RecordableHistogram = createHistogram({ lowest: 1, highest: 3600e9, figures: 2 });

  constructor(readonly node: Scuttlebutt) {
    this.registry.define((prom, registry) => void (this.made = this.make(prom, registry)));
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = GC_KINDS[(e as unknown as { detail: { kind: number } }).detail.kind] as string;
        this.gc.observe(e.duration / 1000, { kind });
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });

    const mine = <T extends NodeMessage>(name: string, fn: (msg: T) => void): void => {
      const handler = (msg: unknown): void => {
        if ((msg as T).node === node) fn(msg as T);
      };
      diagnostics_channel.subscribe(name, handler);
      this.unsubscribe.push(() => diagnostics_channel.unsubscribe(name, handler));
    };
    const packetsIn = this.packetBytes.labels({ direction: 'in' });
    const packetsOut = this.packetBytes.labels({ direction: 'out' });
    mine<PacketMessage>(channels.packetIn, (m) => packetsIn.observe(m.bytes));
    mine<PacketMessage>(channels.packetOut, (m) => packetsOut.observe(m.bytes));
    mine<MemberMessage>(channels.member, (m) => {
      this.events.inc({ type: m.event.type });
      if (m.silenceMs !== undefined) this.detection.observe(m.silenceMs / 1000);
    });
    mine<StallMessage>(channels.stall, (m) => void (this.stalls = m.stalls));
    mine<ThrottleMessage>(channels.throttle, (m) => void (m.throttled && this.throttles++));
    mine(channels.nodeStop, () => this.close());

    let last = performance.now();
    this.loopTimer = setInterval(() => {
      const now = performance.now();
      const lateMs = Math.max(0, now - last - LOOP_SAMPLE_MS);
      this.loopDelay.observe(lateMs / 1000);
      // In ns, from 1 (the least a RecordableHistogram takes) to its highest (a longer stall counts as an hour).
      this.loopLag.record(Math.min(3600e9, Math.max(1, Math.round(lateMs * 1e6))));
      last = now;
    }, LOOP_SAMPLE_MS).unref();
  }

  /** The metrics in prom-client, in the order they are written at a scrape. */
  private make(prom: PromClient, registry: Registry): Made {
    const { Counter, Gauge } = prom;
    const node = this.node;
    const registers = [registry];
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      new Counter<L>({ name, help, labelNames, registers });
    const packetsIn = counter('scuttlebutt_packets_received_total', 'UDP packets received.');
    const packetsOut = counter('scuttlebutt_packets_sent_total', 'UDP packets sent.');
    const bytesIn = counter('scuttlebutt_bytes_received_total', 'UDP payload bytes received.');
    const bytesOut = counter('scuttlebutt_bytes_sent_total', 'UDP payload bytes sent.');
    const rounds = counter('scuttlebutt_gossip_rounds_total', 'Gossip rounds run.');
    const dropped = counter(
      'scuttlebutt_packets_dropped_total',
      'Packets dropped whole, by reason: incoming ones refused before decoding or answering, ' +
        'outgoing ones that could not be sent.',
      ['reason'],
    );
    const errors = counter(
      'scuttlebutt_errors_total',
      'Errors the node caught and lived through, by kind: listener (an event listener threw), ' +
        'internal (an exception while handling a packet: a bug).',
      ['kind'],
    );
    const eventsOverflowed = counter(
      'scuttlebutt_events_overflowed_total',
      'Membership events an events() reader lost because it fell more than its buffer behind.',
    );
    const rejected = counter(
      'scuttlebutt_state_rejected_total',
      'Incoming state refused by the protocol core, by reason.',
      ['reason'],
    );
    const userEvents = counter(
      'scuttlebutt_user_events_total',
      'User events, by outcome (the fields of stats().userEvents): sent (broadcast here), delivered (to listeners ' +
        'here), duplicates, coalesced (superseded by a newer one of the same name), refused, expired, strangers.',
      ['outcome'],
    );
    const queries = counter(
      'scuttlebutt_queries_total',
      'Queries, by outcome (the fields of stats().queries): sent (asked from here), received (accepted here), ' +
        'answered (responses sent), refused, relayed, stray.',
      ['outcome'],
    );
    const localStalls = counter(
      'scuttlebutt_local_stalls_total',
      'Times this process found itself stalled (event loop blocked, SIGSTOP, starved host) ' +
        'and excused its peers for the gap.',
    );
    const replay = {
      streams: new Gauge({
        name: 'scuttlebutt_replay_windows',
        help: "Keyring replay protection: senders' packet streams whose replay windows are held.",
        registers,
      }),
      deepestReorder: new Gauge({
        name: 'scuttlebutt_replay_deepest_reorder_packets',
        help:
          "Keyring replay protection: furthest behind its sender's newest packet an accepted packet arrived, " +
          "in the sender's packets (the window holds 1024).",
        registers,
      }),
    };
    const liveness = {
      mode: new Gauge({
        name: 'scuttlebutt_liveness_mode',
        help: 'The liveness protocol running: 6, or 7 once every live member speaks 7 (stats().liveness).',
        registers,
      }),
      held: new Gauge({
        name: 'scuttlebutt_liveness_gate_members',
        help: 'Live members holding a protocol-7 node in mode 6, by reason: not-speaking (older builds), not-ready.',
        labelNames: ['reason'],
        registers,
      }),
      refused: counter(
        'scuttlebutt_liveness_refused_total',
        "Protocol 7's refusals by reason: report sets refused (forged, unsigned, ineligible), dropped parts of deltas.",
        ['reason'],
      ),
      census: counter(
        'scuttlebutt_liveness_census_total',
        "Protocol 7's censuses at this node (stats().liveness.census): started, convicted (members), never-heard " +
          '(censuses judging a neighbour never heard), never-heard-reported.',
        ['what'],
      ),
    };
    const members = new Gauge({
      name: 'scuttlebutt_members',
      help: 'Members known, by status.',
      labelNames: ['status'],
      registers,
    });
    new Gauge({
      name: 'scuttlebutt_node_info',
      help: 'This node: always 1, its identity in labels.',
      labelNames: ['node_id', 'generation', 'cluster'],
      registers,
    }).set({ node_id: node.self.id, generation: String(node.self.generation), cluster: node.config.clusterId }, 1);

    const flow = {
      gauges: {
        rate: new Gauge({
          name: 'scuttlebutt_flow_rate',
          help: 'Flow control: versions per second this node may publish now.',
          registers,
        }),
        backlog: new Gauge({
          name: 'scuttlebutt_flow_backlog',
          help: "Flow control: this node's keys waiting to be published.",
          registers,
        }),
        oldestWaitMs: new Gauge({
          name: 'scuttlebutt_flow_oldest_wait_seconds',
          help: 'Flow control: how long the longest-waiting key has waited.',
          registers,
        }),
      },
      counters: {
        overflows: counter(
          'scuttlebutt_flow_overflows_total',
          'Flow control: outgoing deltas that filled their budget with state left over.',
        ),
        underflows: counter(
          'scuttlebutt_flow_underflows_total',
          'Flow control: outgoing deltas that carried everything there was.',
        ),
        decreases: counter('scuttlebutt_flow_rate_decreases_total', 'Flow control: times the rate was cut.'),
        increases: counter('scuttlebutt_flow_rate_increases_total', 'Flow control: times the rate was raised.'),
        shares: counter(
          'scuttlebutt_flow_rate_shares_total',
          "Flow control: exchanges in which this node took its share of a peer's and its own allowed rates.",
        ),
      },
    };
    const throttles = counter(
      'scuttlebutt_flow_throttled_total',
      'Flow control: times writes started waiting (the throttled event).',
    );
    this.events.register(prom, registry);
    this.detection.register(registry);
    this.packetBytes.register(registry);
    this.loopDelay.register(registry);
    collectDefaultMetricsButGc(prom, registry);
    // Gauges named like counters (Prometheus' lint refuses them); nodejs_active_{handles,requests,resources} hold the
    // same counts.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      registry.removeSingleMetric(name);
    // The collections since the start (prom-client's name, type and labels), and the CPU used before now, which
    // prom-client's own would have missed.
    this.gc.register(registry);
    const cpu = process.cpuUsage(this.cpuAtStart);
    const cpuCounter = (name: string): Counter | undefined => registry.getSingleMetric(name) as Counter | undefined;
    cpuCounter('process_cpu_user_seconds_total')?.inc(cpu.user / 1e6);
    cpuCounter('process_cpu_system_seconds_total')?.inc(cpu.system / 1e6);
    cpuCounter('process_cpu_seconds_total')?.inc((cpu.user + cpu.system) / 1e6);
    const lagGauge = (stat: LoopLagStat): Gauge => {
      const name = `nodejs_eventloop_lag_${stat}_seconds`;
      registry.removeSingleMetric(name);
      return new Gauge({
        name,
        help: `How late a ${LOOP_SAMPLE_MS / 1000} s timer fired since the previous scrape: ${stat}.`,
        registers,
      });
    };
    const loopLagGauges = Object.fromEntries(LOOP_LAG_GAUGES.map((stat) => [stat, lagGauge(stat)])) as Record<
      LoopLagStat,
      Gauge
    >;
    return {
      packetsIn,
      packetsOut,
      bytesIn,
      bytesOut,
      rounds,
      dropped,
      errors,
      eventsOverflowed,
      rejected,
      userEvents,
      queries,
      members,
      liveness,
      localStalls,
      replay,
      flow,
      throttles,
      loopLagGauges,
    };
  }

  /** The Prometheus text exposition: totals read from stats() now, histograms as accumulated. */
  async text(): Promise<string> {
    const registry = await this.registry.registry();
    const m = this.made as Made;
    const s = this.node.stats();
    const total = (c: Counter, v: number): void => {
      c.reset();
      c.inc(v);
    };
    total(m.packetsIn, s.packetsIn);
    total(m.packetsOut, s.packetsOut);
    total(m.bytesIn, s.bytesIn);
    total(m.bytesOut, s.bytesOut);
    total(m.rounds, s.gossipRounds);
    total(m.localStalls, this.stalls);
    for (const [c, byReason] of [
      [m.dropped, s.dropped],
      [m.rejected, s.rejected],
      [m.liveness.refused, s.liveness.refused],
    ] as const)
      totals(c, 'reason', byReason);
    totals(m.userEvents, 'outcome', s.userEvents);
    totals(m.queries, 'outcome', s.queries);
    total(m.throttles, this.throttles);
    totals(m.errors, 'kind', s.errors);
    total(m.eventsOverflowed, s.eventsOverflowed);
    const f = s.flowControl;
    if (f) {
      m.flow.gauges.rate.set(f.rate);
      m.flow.gauges.backlog.set(f.backlog);
      m.flow.gauges.oldestWaitMs.set(f.oldestWaitMs / 1000);
      for (const k of ['overflows', 'underflows', 'decreases', 'increases', 'shares'] as const)
        total(m.flow.counters[k], f[k]);
    }
    m.replay.streams.set(s.replayWindows.streams);
    m.replay.deepestReorder.set(s.replayWindows.deepestReorder);
    m.liveness.mode.set(s.liveness.mode);
    m.liveness.held.set({ reason: 'not-speaking' }, s.liveness.notSpeaking);
    m.liveness.held.set({ reason: 'not-ready' }, s.liveness.notReady);
    const c = s.liveness.census;
    totals(m.liveness.census, 'what', {
      started: c.started,
      convicted: c.convicted,
      'never-heard': c.neverHeard,
      'never-heard-reported': c.neverHeardReported,
    });
    m.members.set({ status: 'live' }, s.liveMembers);
    m.members.set({ status: 'dead' }, s.deadMembers);
    this.scrapeLoopLag(m.loopLagGauges);
    return registry.metrics();
  }

  /**
   * nodejs_eventloop_lag_{min,...}_seconds over the sampler's ticks since the previous scrape (as prom-client's,
   * which reset at each scrape); a scrape that follows another within a tick keeps the figures it had.
   */
  private scrapeLoopLag(g: Record<LoopLagStat, Gauge>): void {
    const h = this.loopLag;
    if (h.count === 0) return;
    g.min.set(h.min / 1e9);
    g.max.set(h.max / 1e9);
    g.mean.set(h.mean / 1e9);
    g.stddev.set(h.stddev / 1e9);
    g.p50.set(h.percentile(50) / 1e9);
    g.p90.set(h.percentile(90) / 1e9);
    g.p99.set(h.percentile(99) / 1e9);
    h.reset();
  }

  /** Stops listening; called by itself when the node shuts down. Scrapes still answer, frozen. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.loopTimer);
    for (const u of this.unsubscribe) u();
  }
}

const instances = new WeakMap<Scuttlebutt, AgentMetrics>();

/** The node's metrics, created on first call: call it right after createScuttlebutt() so histograms miss nothing. */
export function instrument(node: Scuttlebutt): AgentMetrics {
  let m = instances.get(node);
  if (!m) instances.set(node, (m = new AgentMetrics(node)));
  return m;
}

/** A node's metrics in the Prometheus text exposition format (0.0.4); serve with METRICS_CONTENT_TYPE. */
export function prometheusText(node: Scuttlebutt): Promise<string> {
  return instrument(node).text();
}

/** Counter `c` set to `counts`, one series per key under `label` (a stats() count read whole at each scrape). */
function totals<T extends string, C extends { [K in keyof C]: number }>(c: Counter<T>, label: T, counts: C): void {
  c.reset();
  for (const [value, n] of Object.entries(counts) as [string, number][]) c.inc({ [label]: value } as LabelValues<T>, n);
}

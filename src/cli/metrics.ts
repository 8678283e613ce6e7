/**
 * The agent's /metrics, built with prom-client from what the library publishes: stats() for the
 * totals, its diagnostics channels (src/runtime/diagnostics.ts) for the histograms. The library
 * itself depends on no metrics package; only the agent does.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
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
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

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

/** One node's metrics. Histograms count from construction on; instrument() the node as soon as it exists. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly loopTimer: NodeJS.Timeout;
  private stalls = 0;
  private closed = false;

  private readonly packetsIn: Counter;
  private readonly packetsOut: Counter;
  private readonly bytesIn: Counter;
  private readonly bytesOut: Counter;
  private readonly rounds: Counter;
  private readonly dropped: Counter<'reason'>;
  private readonly errors: Counter<'kind'>;
  private readonly eventsOverflowed: Counter;
  private readonly rejected: Counter<'reason'>;
  private readonly userEvents: Counter<'outcome'>;
  private readonly queries: Counter<'outcome'>;
  private readonly members: Gauge<'status'>;
  private readonly liveness: {
    mode: Gauge;
    held: Gauge<'reason'>;
    refused: Counter<'reason'>;
    census: Counter<'what'>;
  };
  private readonly localStalls: Counter;
  private readonly replay: Record<'streams' | 'deepestReorder', Gauge>;
  private readonly flow: {
    gauges: Record<'rate' | 'backlog' | 'oldestWaitMs', Gauge>;
    counters: Record<'overflows' | 'underflows' | 'decreases' | 'increases' | 'shares', Counter>;
  };
  private throttles = 0;
  private readonly throttlesCounter: Counter;
  /**
   * The sampler's delays (ns) since the last scrape, behind nodejs_eventloop_lag_{min,...}_seconds: up to an hour, to
   * two significant figures (about 30 KB of counts; node's default range and three figures take 350 KB).
   */
  private readonly loopLag: RecordableHistogram = createHistogram({ lowest: 1, highest: 3600e9, figures: 2 });
  private readonly loopLagGauges: Record<LoopLagStat, Gauge>;
  /** Packet sizes heard and sent since the last scrape, observed into scuttlebutt_packet_size_bytes at it. */
  private readonly packetSizes: { in: PacketSizes; out: PacketSizes };

  constructor(readonly node: Scuttlebutt) {
    const registers = [this.registry];
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []): Counter<L> =>
      new Counter<L>({ name, help, labelNames, registers });
    this.packetsIn = counter('scuttlebutt_packets_received_total', 'UDP packets received.');
    this.packetsOut = counter('scuttlebutt_packets_sent_total', 'UDP packets sent.');
    this.bytesIn = counter('scuttlebutt_bytes_received_total', 'UDP payload bytes received.');
    this.bytesOut = counter('scuttlebutt_bytes_sent_total', 'UDP payload bytes sent.');
    this.rounds = counter('scuttlebutt_gossip_rounds_total', 'Gossip rounds run.');
    this.dropped = counter(
      'scuttlebutt_packets_dropped_total',
      'Packets dropped whole, by reason: incoming ones refused before decoding or answering, ' +
        'outgoing ones that could not be sent.',
      ['reason'],
    );
    this.errors = counter(
      'scuttlebutt_errors_total',
      'Errors the node caught and lived through, by kind: listener (an event listener threw), ' +
        'internal (an exception while handling a packet: a bug).',
      ['kind'],
    );
    this.eventsOverflowed = counter(
      'scuttlebutt_events_overflowed_total',
      'Membership events an events() reader lost because it fell more than its buffer behind.',
    );
    this.rejected = counter(
      'scuttlebutt_state_rejected_total',
      'Incoming state refused by the protocol core, by reason.',
      ['reason'],
    );
    this.userEvents = counter(
      'scuttlebutt_user_events_total',
      'User events, by outcome (the fields of stats().userEvents): sent (broadcast here), delivered (to listeners ' +
        'here), duplicates, coalesced (superseded by a newer one of the same name), refused, expired, strangers.',
      ['outcome'],
    );
    this.queries = counter(
      'scuttlebutt_queries_total',
      'Queries, by outcome (the fields of stats().queries): sent (asked from here), received (accepted here), ' +
        'answered (responses sent), refused, relayed, stray.',
      ['outcome'],
    );
    this.localStalls = counter(
      'scuttlebutt_local_stalls_total',
      'Times this process found itself stalled (event loop blocked, SIGSTOP, starved host) ' +
        'and excused its peers for the gap.',
    );
    this.replay = {
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
    this.liveness = {
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
    this.members = new Gauge({
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

    this.flow = {
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
    const events = counter(
      'scuttlebutt_member_events_total',
      'Membership events, by type (live, dead, update, removed).',
      ['type'],
    );
    const detection = new Histogram({
      name: 'scuttlebutt_detection_seconds',
      help:
        "Suspected deaths: seconds from the birth of the member's newest heartbeat held here to its conviction " +
        '(the crash came at most one heartbeat period after that birth).',
      buckets: [0.5, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60],
      registers,
    });
    const packetBytes = new Histogram({
      name: 'scuttlebutt_packet_size_bytes',
      help: 'UDP payload sizes, envelope included, by direction (in, out).',
      labelNames: ['direction'],
      buckets: [64, 128, 256, 512, 1024, 1432, 2048, 4096, 8192, 16384, 32768, 65507],
      registers,
    });
    const loopDelay = new Histogram({
      name: 'scuttlebutt_event_loop_delay_seconds',
      help:
        `How late a ${LOOP_SAMPLE_MS / 1000} s timer fires: one observation per tick, ` +
        'so a stall of S seconds (S > 1) is one observation of about S. Delays like these are what make peers ' +
        'look silent.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: LOOP_MONITOR_NEVER_MS });
    // Gauges named like counters (Prometheus' lint refuses them); nodejs_active_{handles,requests,resources} hold the
    // same counts.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);
    const lagGauge = (stat: LoopLagStat): Gauge => {
      const name = `nodejs_eventloop_lag_${stat}_seconds`;
      this.registry.removeSingleMetric(name);
      return new Gauge({
        name,
        help: `How late a ${LOOP_SAMPLE_MS / 1000} s timer fired since the previous scrape: ${stat}.`,
        registers,
      });
    };
    this.loopLagGauges = Object.fromEntries(LOOP_LAG_GAUGES.map((stat) => [stat, lagGauge(stat)])) as Record<
      LoopLagStat,
      Gauge
    >;

    const mine = <T extends NodeMessage>(name: string, fn: (msg: T) => void): void => {
      const handler = (msg: unknown): void => {
        if ((msg as T).node === node) fn(msg as T);
      };
      diagnostics_channel.subscribe(name, handler);
      this.unsubscribe.push(() => diagnostics_channel.unsubscribe(name, handler));
    };
    this.packetSizes = {
      in: new PacketSizes(packetBytes.labels('in')),
      out: new PacketSizes(packetBytes.labels('out')),
    };
    mine<PacketMessage>(channels.packetIn, (m) => this.packetSizes.in.add(m.bytes));
    mine<PacketMessage>(channels.packetOut, (m) => this.packetSizes.out.add(m.bytes));
    mine<MemberMessage>(channels.member, (m) => {
      events.inc({ type: m.event.type });
      if (m.silenceMs !== undefined) detection.observe(m.silenceMs / 1000);
    });
    mine<StallMessage>(channels.stall, (m) => void (this.stalls = m.stalls));
    mine<ThrottleMessage>(channels.throttle, (m) => void (m.throttled && this.throttles++));
    mine(channels.nodeStop, () => this.close());
    this.throttlesCounter = throttles;

    let last = performance.now();
    this.loopTimer = setInterval(() => {
      const now = performance.now();
      const lateMs = Math.max(0, now - last - LOOP_SAMPLE_MS);
      loopDelay.observe(lateMs / 1000);
      // In ns, from 1 (the least a RecordableHistogram takes) to its highest (a longer stall counts as an hour).
      this.loopLag.record(Math.min(3600e9, Math.max(1, Math.round(lateMs * 1e6))));
      last = now;
    }, LOOP_SAMPLE_MS).unref();
  }

  /** The Prometheus text exposition: totals read from stats() now, histograms as accumulated. */
  async text(): Promise<string> {
    this.packetSizes.in.flush();
    this.packetSizes.out.flush();
    const s = this.node.stats();
    const total = (c: Counter, v: number): void => {
      c.reset();
      c.inc(v);
    };
    total(this.packetsIn, s.packetsIn);
    total(this.packetsOut, s.packetsOut);
    total(this.bytesIn, s.bytesIn);
    total(this.bytesOut, s.bytesOut);
    total(this.rounds, s.gossipRounds);
    total(this.localStalls, this.stalls);
    for (const [c, byReason] of [
      [this.dropped, s.dropped],
      [this.rejected, s.rejected],
      [this.liveness.refused, s.liveness.refused],
    ] as const)
      totals(c, 'reason', byReason);
    totals(this.userEvents, 'outcome', s.userEvents);
    totals(this.queries, 'outcome', s.queries);
    total(this.throttlesCounter, this.throttles);
    totals(this.errors, 'kind', s.errors);
    total(this.eventsOverflowed, s.eventsOverflowed);
    const f = s.flowControl;
    if (f) {
      this.flow.gauges.rate.set(f.rate);
      this.flow.gauges.backlog.set(f.backlog);
      this.flow.gauges.oldestWaitMs.set(f.oldestWaitMs / 1000);
      for (const k of ['overflows', 'underflows', 'decreases', 'increases', 'shares'] as const)
        total(this.flow.counters[k], f[k]);
    }
    this.replay.streams.set(s.replayWindows.streams);
    this.replay.deepestReorder.set(s.replayWindows.deepestReorder);
    this.liveness.mode.set(s.liveness.mode);
    this.liveness.held.set({ reason: 'not-speaking' }, s.liveness.notSpeaking);
    this.liveness.held.set({ reason: 'not-ready' }, s.liveness.notReady);
    const c = s.liveness.census;
    totals(this.liveness.census, 'what', {
      started: c.started,
      convicted: c.convicted,
      'never-heard': c.neverHeard,
      'never-heard-reported': c.neverHeardReported,
    });
    this.members.set({ status: 'live' }, s.liveMembers);
    this.members.set({ status: 'dead' }, s.deadMembers);
    this.scrapeLoopLag();
    return this.registry.metrics();
  }

  /**
   * nodejs_eventloop_lag_{min,...}_seconds over the sampler's ticks since the previous scrape (as prom-client's,
   * which reset at each scrape); a scrape that follows another within a tick keeps the figures it had.
   */
  private scrapeLoopLag(): void {
    const h = this.loopLag;
    if (h.count === 0) return;
    const g = this.loopLagGauges;
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

/** Packet sizes held between scrapes: PACKET_SIZES_HELD at most, then observed at once. */
const PACKET_SIZES_HELD = 1024;

/**
 * One direction's packet sizes, observed into the histogram in a batch (at a scrape, or when PACKET_SIZES_HELD are
 * held) rather than one by one on the gossip path: prom-client's observe builds, checks and hashes the label set at
 * every call. A scrape reads the same histogram either way.
 */
class PacketSizes {
  private readonly sizes = new Float64Array(PACKET_SIZES_HELD);
  private count = 0;

  constructor(private readonly histogram: { observe(value: number): void }) {}

  add(bytes: number): void {
    this.sizes[this.count++] = bytes;
    if (this.count === PACKET_SIZES_HELD) this.flush();
  }

  flush(): void {
    for (let i = 0; i < this.count; i++) this.histogram.observe(this.sizes[i] as number);
    this.count = 0;
  }
}

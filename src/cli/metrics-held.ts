/**
 * The agent's metrics before prom-client is loaded. prom-client and what it pulls in (its default metrics,
 * OpenTelemetry's API, the Pushgateway's `https`) cost an idle agent about 1 MB it has no use for until Prometheus
 * scrapes it, and many agents are never scraped: so the agent counts in the plain objects here from the start,
 * loads prom-client at the first scrape (LazyRegistry), and serves the same names, types, labels and values it
 * would have served with prom-client loaded from the start.
 *
 * What only a scrape reads (stats() totals, gauges) needs nothing here: it is set at each scrape. What accumulates
 * between scrapes does: a counter incremented on events is held as counts (HeldCounts) and set whole at each scrape;
 * a histogram cannot be, since prom-client has no way to set a histogram's sum (replaying observations would need
 * every value kept), so HeldHistogram keeps its buckets, sum and count itself and is served as a metric of its own,
 * with exactly the samples prom-client's Histogram would give for the same observations (same bucket rule, the sum
 * added up in the same order).
 */
import type { Counter, Metric, Registry } from 'prom-client';

export type PromClient = typeof import('prom-client');

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (text format 0.0.4), without loading prom-client for it. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Makes some metrics in prom-client's registry once it is loaded. */
export type Definer = (prom: PromClient, registry: Registry) => void;

/** A registry that loads prom-client when first asked for, then makes the metrics defined so far, in order. */
export class LazyRegistry {
  private readonly definers: Definer[] = [];
  private loaded: { prom: PromClient; registry: Registry } | undefined;
  private loading: Promise<Registry> | undefined;

  /** Makes the metrics now if prom-client is loaded, else when it is. */
  define(fn: Definer): void {
    if (this.loaded) fn(this.loaded.prom, this.loaded.registry);
    else this.definers.push(fn);
  }

  /** Whether prom-client has been loaded for this registry. */
  get isLoaded(): boolean {
    return this.loaded !== undefined;
  }

  /** prom-client's registry, with every metric defined: loads prom-client the first time. */
  registry(): Promise<Registry> {
    this.loading ??= import('prom-client').then((prom) => {
      const registry = new prom.Registry();
      for (let i = 0; i < this.definers.length; i++) this.definers[i]?.(prom, registry);
      this.definers.length = 0;
      this.loaded = { prom, registry };
      return registry;
    });
    return this.loading;
  }
}

type Labels = Readonly<Record<string, string>>;

/** A counter incremented on events, by label set, set whole into prom-client's counter at each scrape. */
export class HeldCounts {
  private readonly counts = new Map<string, { labels: Labels; n: number }>();

  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly string[],
  ) {}

  /** Counts one; `labels` in the order of the label names (the order they are written in at a scrape). */
  inc(labels: Labels): void {
    const key = this.labelNames.map((l) => labels[l]).join('\0');
    const held = this.counts.get(key);
    if (held) held.n++;
    else this.counts.set(key, { labels, n: 1 });
  }

  /** prom-client's counter over these counts, read at each scrape, in `registry`. */
  register(prom: PromClient, registry: Registry): void {
    const counts = this.counts;
    new prom.Counter({
      name: this.name,
      help: this.help,
      labelNames: [...this.labelNames],
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        for (const { labels, n } of counts.values()) this.inc(labels, n);
      },
    });
  }
}

interface Series {
  readonly labels: Labels;
  /** Observations by bucket, not cumulative: counts[i] for the least upper bound i at or above the value. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** One series of a HeldHistogram. */
export interface Observer {
  observe(value: number): void;
}

/** A histogram kept here and served to prom-client's registry as a metric of its own (see the top). */
export class HeldHistogram {
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    private readonly labelNames: readonly string[] = [],
  ) {
    // As prom-client: a histogram without labels has its one series, at zero, from the start.
    if (labelNames.length === 0) this.series.set('', this.newSeries({}));
  }

  private newSeries(labels: Labels): Series {
    return { labels, counts: this.upperBounds.map(() => 0), sum: 0, count: 0 };
  }

  /** The series of these labels (created at its first observation, as prom-client's). */
  labels(labels: Labels = {}): Observer {
    const key = this.labelNames.map((l) => labels[l]).join('\0');
    let s = this.series.get(key);
    return {
      observe: (value: number): void => {
        if (!Number.isFinite(value)) return;
        if (!s) {
          s = this.series.get(key);
          if (!s) this.series.set(key, (s = this.newSeries(labels)));
        }
        const b = this.upperBounds;
        for (let i = 0; i < b.length; i++)
          if (value <= (b[i] as number)) {
            s.counts[i] = (s.counts[i] as number) + 1;
            break;
          }
        s.sum += value;
        s.count += 1;
      },
    };
  }

  observe(value: number, labels: Labels = {}): void {
    this.labels(labels).observe(value);
  }

  /** Serves this histogram from `registry`. */
  register(registry: Registry): void {
    registry.registerMetric(this.metric());
  }

  /** What prom-client's Registry reads of a metric, with the samples its Histogram would give. */
  private metric(): Metric {
    const { name, help } = this;
    const samples = (): unknown[] => {
      const values: unknown[] = [];
      const bucket = `${name}_bucket`;
      for (const s of this.series.values()) {
        let acc = 0;
        this.upperBounds.forEach((le, i) => {
          acc += s.counts[i] as number;
          values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
        });
        values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket });
        values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum` });
        values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count` });
      }
      return values;
    };
    const metric = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values: samples() }),
      reset: (): void => {},
    };
    return metric as unknown as Metric;
  }
}

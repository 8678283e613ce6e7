/**
 * The node's seeds over time: the seeds given to join(), resolved now and every interval, a few of
 * the discovered addresses handed to the core as its seeds, and addresses that newly appear (a pod
 * that was given no seed) contacted at once.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { Logger } from './api.js';
import { pickSeeds, SeedDiscovery, type DiscoveryResult } from './discovery.js';
import { DiscoveryError, systemResolver } from './dns.js';
import { parseSeeds } from './seeds.js';
import type { Packets } from './packets.js';
import { monotonicNow } from './clock.js';

/** Discovered addresses given to the core as seeds (see pickSeeds). */
const CORE_SEEDS = 3;

/** What seed discovery talks to: the core it hands seeds and newcomers to, the packets that carry the introductions. */
export interface SeedWatchComponents {
  readonly core: Pick<ScuttlebuttCore, 'liveCount' | 'setSeeds' | 'contact' | 'snapshot'>;
  readonly packets: Pick<Packets, 'sendAll'>;
  readonly log: Logger;
}

export interface SeedWatchOptions {
  readonly selfAddresses: readonly string[];
  readonly family: 4 | 6;
  readonly dnsServers: readonly string[];
  readonly resolveIntervalMs: number;
  /** How many newly appeared addresses a run contacts at most. */
  readonly contactsPerRun: number;
}

export class SeedWatch {
  private readonly discovery: SeedDiscovery;
  private timer: NodeJS.Timeout | null = null;
  private coreSeeds: string[] = [];
  private closed = false;
  private readonly core: SeedWatchComponents['core'];
  private readonly packets: SeedWatchComponents['packets'];
  private readonly log: Logger;

  constructor(
    components: SeedWatchComponents,
    private readonly options: SeedWatchOptions,
  ) {
    this.core = components.core;
    this.packets = components.packets;
    this.log = components.log;
    this.discovery = new SeedDiscovery({
      resolver: systemResolver({ servers: options.dnsServers }),
      family: options.family,
      log: components.log,
    });
  }

  /** The seeds given, as written. */
  get seeds(): string[] {
    return this.discovery.seeds.map((s) => s.text);
  }

  /**
   * Adds seeds (throws a SeedError on a malformed one) and resolves them now; rejects with a
   * DiscoveryError when not one address was found (the seeds are kept and retried all the same).
   */
  async join(seeds: readonly string[]): Promise<void> {
    this.discovery.add(parseSeeds(seeds));
    this.timer ??= setInterval(() => {
      this.resolve({ joining: false }).catch((err: Error) =>
        this.log.error({ err: err.stack }, 'internal error while resolving seeds'),
      );
    }, this.options.resolveIntervalMs);
    const result = await this.resolve({ joining: true });
    if (this.closed) return;
    if (result.addresses.length === 0 && this.discovery.seeds.length > 0) {
      const first = result.problems[0];
      throw new DiscoveryError(
        this.seeds.join(', '),
        first?.reason ?? 'failed',
        `no seed gave an address (retried every ${this.options.resolveIntervalMs} ms): ` +
          result.problems.map((p) => p.message).join('; '),
        first,
      );
    }
  }

  /**
   * The seeds resolve to this node alone: the first pod of a Service, whose name lists only itself,
   * is alone by configuration too (a readiness gate that waited for a second pod would deadlock an
   * ordered rollout).
   */
  onlySelf(): boolean {
    const found = this.discovery.addresses;
    return found.length > 0 && found.every((a) => this.options.selfAddresses.includes(a));
  }

  /** Stops re-resolving and abandons queries in flight. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.discovery.close();
  }

  /** `joining`: a join waits for its own resolution; a periodic run skips while one is under way. */
  private async resolve(options: { readonly joining: boolean }): Promise<DiscoveryResult> {
    if (!options.joining && this.discovery.busy)
      return { addresses: this.discovery.addresses, added: [], removed: [], problems: [] };
    const result = await this.discovery.resolve();
    if (this.closed) return result;
    const core = this.core;
    const self = this.options.selfAddresses[0] as string;
    this.coreSeeds = pickSeeds(this.coreSeeds, result.addresses, self, CORE_SEEDS, Math.random, core.liveCount === 1);
    core.setSeeds(this.coreSeeds);
    // A member that appeared only in DNS (a new pod that was given no seed, or one seed that is
    // down) is met now. Known members need no introduction; a few a run keeps a mass arrival cheap.
    const fresh = this.unknown(result.added).slice(0, this.options.contactsPerRun);
    this.packets.sendAll(core.contact(fresh, monotonicNow()));
    return result;
  }

  private unknown(addresses: readonly string[]): string[] {
    if (addresses.length === 0) return [];
    const known = new Set(this.core.snapshot().live.map((v) => v.node.address));
    return addresses.filter((a) => !known.has(a));
  }
}

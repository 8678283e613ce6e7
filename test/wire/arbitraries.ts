/** fast-check generators of valid messages, shared by the codec property tests and the fuzzer's seeds. */
import fc from 'fast-check';
import { checkCount } from '../../src/wire/low-heartbeats.js';
import type {
  Delta,
  Digest,
  HeartbeatBumps,
  Message,
  NodeDelta,
  NodeIdentity,
  VersionedValue,
} from '../../src/wire/messages.js';

const varint = fc.oneof(fc.nat(300), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const u32 = fc.nat(0xffffffff);
const ref = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
/** A leave commitment or a leave proof (protocol 5), or none. */
const sixteen = fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: undefined });

export const identity: fc.Arbitrary<NodeIdentity> = fc.record({ id: text, generation: varint, address: text });

const column = (n: number, arb: fc.Arbitrary<number>) =>
  fc.array(arb, { minLength: n, maxLength: n }).map((a) => Float64Array.from(a));

export const digest = (mode?: 'full' | 'compact'): fc.Arbitrary<Digest> =>
  fc
    .record({
      compact: mode ? fc.constant(mode === 'compact') : fc.boolean(),
      low: fc.boolean(),
      complete: fc.boolean(),
      offset: fc.nat(1000),
      n: fc.nat(150),
      ageLimit: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 })),
    })
    .chain(({ compact, low: lowBits, complete, offset, n, ageLimit }) => {
      // Low heartbeat bits only in compact digests.
      const low = compact && lowBits;
      return fc.record({
        mode: fc.constant(compact ? ('compact' as const) : ('full' as const)),
        complete: fc.constant(complete),
        offset: fc.constant(compact ? offset : 0),
        count: fc.constant(n),
        refs: compact ? fc.constant(null) : column(n, ref),
        heartbeats: column(n, low ? fc.nat(15) : varint),
        checks: low ? column(checkCount(n), u32) : fc.constant(null),
        ages: column(n, fc.nat(ageLimit > 0 ? ageLimit : 5000)),
        ageLimit: fc.constant(ageLimit),
        maxVersions: column(n, u32),
        gcVersions: column(n, u32),
      });
    })
    // A digest with low heartbeat bits may name its own entry, sent in full.
    .chain((d) =>
      d.checks && d.count > 0
        ? fc
            .option(fc.record({ index: fc.nat(d.count - 1), heartbeat: varint }), { nil: undefined })
            .map((own) => (own ? { ...d, own } : d))
        : fc.constant(d),
    )
    // Only an incomplete full digest may carry a bucket summary (1 to 256 buckets, a power of two).
    .chain((d) =>
      d.mode === 'full' && !d.complete
        ? fc
            .option(
              fc.nat(8).chain((k) => column(2 ** k, ref)),
              { nil: undefined },
            )
            .map((buckets) => (buckets ? { ...d, buckets } : d))
        : fc.constant(d),
    );

const value: fc.Arbitrary<VersionedValue> = fc
  .record({ key: text, tombstone: fc.boolean(), value: text, version: fc.constant(0) })
  .map((v) => ({ ...v, value: v.tombstone ? '' : v.value }));

const nodeDelta: fc.Arbitrary<NodeDelta> = fc
  .record({
    ref,
    identity: fc.option(identity, { nil: null }),
    heartbeat: varint,
    heartbeatAge: fc.nat(5000),
    lastGcVersion: u32,
    fromVersion: fc.nat(1000),
    values: fc.array(value, { maxLength: 5 }),
    commitment: sixteen,
  })
  .map(({ commitment, ...d }) => {
    let v = d.fromVersion;
    const values = d.values.map((x) => ({ ...x, version: (v += 1 + (x.key.length % 3)) }));
    // A commitment travels only with the identity it belongs to.
    return { ...d, values, maxVersion: v + 2, ...(commitment && d.identity ? { commitment } : {}) };
  });

const bumps: fc.Arbitrary<HeartbeatBumps> = fc
  .record({ positional: fc.boolean(), low: fc.boolean(), n: fc.nat(140) })
  .chain(({ positional, low: lowBits, n }) => {
    // Low heartbeat bits only in positional bumps.
    const low = positional && lowBits;
    return fc.record({
      count: fc.constant(n),
      positional: fc.constant(positional),
      keys: positional
        ? fc
            .uniqueArray(fc.nat(5000), { minLength: n, maxLength: n })
            .map((a) => Float64Array.from(a.sort((x, y) => x - y)))
        : column(n, ref),
      heartbeats: column(n, low ? fc.nat(15) : varint),
      checks: low ? column(checkCount(n), u32) : fc.constant(null),
      ages: column(n, fc.nat(5000)),
    });
  });

const delta: fc.Arbitrary<Delta> = fc.record({ nodes: fc.array(nodeDelta, { maxLength: 4 }), bumps });
const clusterId = text;

export const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('syn' as const),
    clusterId,
    setHash: ref,
    setSize: fc.nat(100_000),
    digest: digest(),
    pull: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('synAck' as const),
    clusterId,
    setHash: ref,
    setSize: fc.nat(100_000),
    request: digest('full'),
    delta,
  }),
  fc.record({ type: fc.constant('ack' as const), clusterId, delta }),
  fc.record({ type: fc.constant('wrongCluster' as const), clusterId }),
  fc
    .record({ type: fc.constant('leave' as const), clusterId, identity, heartbeat: varint, proof: sixteen })
    .map(({ proof, ...m }) => (proof ? { ...m, proof } : m)),
);

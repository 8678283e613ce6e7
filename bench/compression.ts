/**
 * `node dist/bench/compression.js [--nodes N] [--seconds S] [--json]`: what zstd (in `node:zlib` from Node.js
 * 22.15 and 23.8) would save against the raw DEFLATE the envelope uses today, on the packets a seeded simulated
 * cluster really sends: N members with a few metadata keys each, members up 0-24 h, S seconds of gossip after
 * they started together. Each body is compressed as the envelope does (bodies under 64 bytes are sent raw, and
 * a compressed body is kept only when smaller); bytes are summed over all packets and times are medians of
 * compress + decompress per packet. Prints the zstd columns only on a Node.js line that has zstd.
 */
import * as zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import { benchOptions, simConfig, type BenchOptions } from '../src/sim/options.js';
import { SimCluster } from '../src/sim/cluster.js';
import { encodeAny } from '../src/wire/any.js';
import { MIN_COMPRESS_BYTES } from '../src/wire/envelope-sizes.js';

/** The zstd functions, typed here because the project's @types/node is the oldest supported line's. */
interface Zstd {
  zstdCompressSync(body: Uint8Array, options?: { params?: Record<number, number> }): Buffer;
  zstdDecompressSync(body: Uint8Array): Buffer;
}
const zstd = typeof (zlib as Partial<Zstd>).zstdCompressSync === 'function' ? (zlib as unknown as Zstd) : null;
const ZSTD_LEVEL_PARAM = (zlib.constants as Record<string, number>)['ZSTD_c_compressionLevel'];

interface Codec {
  name: string;
  compress(body: Uint8Array): Uint8Array;
  decompress(body: Uint8Array): Uint8Array;
}

function codecs(): Codec[] {
  const list: Codec[] = [
    { name: 'deflate-raw (today)', compress: (b) => zlib.deflateRawSync(b), decompress: (b) => zlib.inflateRawSync(b) },
  ];
  if (zstd && ZSTD_LEVEL_PARAM !== undefined) {
    for (const level of [1, 3]) {
      list.push({
        name: `zstd level ${level}`,
        compress: (b) => zstd.zstdCompressSync(b, { params: { [ZSTD_LEVEL_PARAM]: level } }),
        decompress: (b) => zstd.zstdDecompressSync(b),
      });
    }
  }
  return list;
}

function corpus(nodes: number, seconds: number): Uint8Array[] {
  const o: BenchOptions = benchOptions({ nodes, seed: 11, disseminations: 0, uptimeSpreadS: 86_400 });
  const sim = new SimCluster(simConfig(o, o.seed));
  const bodies: Uint8Array[] = [];
  sim.onSend((_from, _to, message) => bodies.push(encodeAny(message)));
  for (let i = 0; i < nodes; i++)
    sim.start(i, {
      role: i % 3 === 0 ? 'db' : 'api',
      zone: `eu-west-${i % 3}`,
      version: '1.4.2',
      load: (i / nodes).toFixed(2),
    });
  sim.runUntil(seconds * 1000);
  return bodies;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function measure(
  codec: Codec,
  bodies: Uint8Array[],
): { bytes: number; compressedPackets: number; microsPerPacket: number } {
  let bytes = 0;
  let compressedPackets = 0;
  for (const body of bodies) {
    if (body.length < MIN_COMPRESS_BYTES) {
      bytes += body.length;
      continue;
    }
    const packed = codec.compress(body);
    if (packed.length < body.length) compressedPackets++;
    bytes += Math.min(body.length, packed.length);
  }
  const sample = bodies.filter((b) => b.length >= MIN_COMPRESS_BYTES).slice(0, 2000);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (const body of sample) codec.decompress(codec.compress(body));
    runs.push(Number(process.hrtime.bigint() - t0) / 1000 / Math.max(1, sample.length));
  }
  return { bytes, compressedPackets, microsPerPacket: median(runs) };
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
  },
});
const nodes = Number(values.nodes);
const seconds = Number(values.seconds);
if (!Number.isInteger(nodes) || nodes < 2)
  throw new Error(`--nodes must be an integer of at least 2 (got ${values.nodes})`);
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number (got ${values.seconds})`);
const bodies = corpus(nodes, seconds);
const raw = bodies.reduce((s, b) => s + b.length, 0);
const rows = codecs().map((c) => ({ codec: c.name, ...measure(c, bodies) }));
if (values.json) {
  console.log(
    JSON.stringify({ node: process.version, nodes, seconds, packets: bodies.length, rawBytes: raw, rows }, null, 2),
  );
} else {
  console.log(
    `Node.js ${process.version}: ${bodies.length} packets from ${nodes} simulated members over ${seconds} s, ${raw} bytes uncompressed`,
  );
  if (!zstd) console.log('(no zstd in node:zlib on this line: it arrived in 22.15 and 23.8)');
  const base = rows[0]!.bytes;
  for (const r of rows) {
    console.log(
      `${r.codec.padEnd(20)} ${String(r.bytes).padStart(10)} B  ${(r.bytes / base).toFixed(3)}x today  ${r.compressedPackets} packets smaller  ${r.microsPerPacket.toFixed(1)} us/packet (compress + decompress)`,
    );
  }
}

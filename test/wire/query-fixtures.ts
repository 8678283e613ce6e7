/**
 * The golden fixtures of protocol 6's query messages, kept apart from the gossip cases (v6.hex) in
 * test/wire/fixtures/v6-queries.hex (one `name hex` line each): message bodies and whole packets. The
 * bytes of a released version never change: query-codec.test.ts fails when the codec writes other
 * bytes for a case or cannot read the stored ones. write-query-fixtures.ts writes the file once.
 */
import { readFileSync } from 'node:fs';
import { encodeQueryMessage } from '../../src/wire/codec.js';
import type { ProtocolVersion } from '../../src/wire/protocol.js';
import type { QueryWireMessage } from '../../src/wire/query-messages.js';
import { seal, type EnvelopeOptions } from '../../src/transport/envelope.js';
import { NonceSequence } from '../../src/transport/replay.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';
import { FIXTURES_DIR, NUMBERED_COUNTER, NUMBERED_STREAM } from './golden.js';

/** The protocol version whose query bytes the file holds: the first that carries queries. */
export const QUERY_VERSION: ProtocolVersion = 6;
export const QUERY_FIXTURE = `${FIXTURES_DIR}v6-queries.hex`;

const C = 'prod-eu';
const bytes = (n: number, f: (i: number) => number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => f(i));

export function queryCases(): [string, QueryWireMessage][] {
  const query = {
    type: 'query',
    clusterId: C,
    origin: 'api-1',
    generation: 1_764_000_000_123,
    ltime: 42,
    ack: true,
    timeoutMs: 5000,
    relayFactor: 0,
    tags: {},
    name: 'load',
    payload: new Uint8Array(0),
  } as const;
  const answer = { clusterId: C, origin: 'api-1', ltime: 42, from: 'db-ünïcødé-2', relay: false } as const;
  return [
    // The smallest query: no filter, no payload, acks wanted.
    ['query-bare', query],
    // Tags in key order (written sorted whatever the object's order), a payload, no ack, relays, a long timeout.
    [
      'query-tags-payload-relay',
      {
        ...query,
        ltime: 2 ** 40 + 3,
        ack: false,
        timeoutMs: 600_000,
        relayFactor: 8,
        tags: { zone: 'eu-1', role: 'db', ünï: '値' },
        name: 'deploy/ünïcødé',
        payload: bytes(200, (i) => (i * 31 + 7) & 0xff),
      },
    ],
    ['ack-direct', { type: 'queryAck', ...answer }],
    ['ack-relay', { type: 'queryAck', ...answer, relay: true }],
    ['response-empty', { type: 'queryResponse', ...answer, error: false, payload: new Uint8Array(0) }],
    [
      'response-payload-relay',
      { type: 'queryResponse', ...answer, relay: true, error: false, payload: bytes(300, (i) => i & 0xff) },
    ],
    [
      'response-error',
      { type: 'queryResponse', ...answer, error: true, payload: new TextEncoder().encode('handler failed: ✗') },
    ],
  ];
}

const KEY_128 = Uint8Array.from({ length: 16 }, (_, i) => i);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);

export interface QueryPacketCase {
  readonly name: string;
  readonly body: Uint8Array;
  readonly options: EnvelopeOptions;
  readonly numbered: boolean;
}

/** Whole packets: a plaintext query, and a numbered (replay-window) AES-128 response, as nodes send them. */
export function queryPacketCases(): QueryPacketCase[] {
  const m = new Map(queryCases());
  const opts = (keys: Uint8Array[]): EnvelopeOptions => ({ keys, compress: false, maxPacketBytes: MAX_UDP_PAYLOAD });
  return [
    {
      name: 'packet-query-plaintext',
      body: encodeQueryMessage(m.get('query-tags-payload-relay')!, QUERY_VERSION),
      options: opts([]),
      numbered: false,
    },
    {
      name: 'packet-response-numbered-aes128',
      body: encodeQueryMessage(m.get('response-error')!, QUERY_VERSION),
      options: opts([KEY_128]),
      numbered: true,
    },
  ];
}

export function sealQueryCase(c: QueryPacketCase): Uint8Array {
  if (c.numbered)
    return seal(c.body, c.options, {
      version: QUERY_VERSION,
      sequence: new NonceSequence(() => NUMBERED_STREAM, NUMBERED_COUNTER),
    });
  return seal(c.body, c.options, { version: QUERY_VERSION, nonce: NONCE });
}

/** Every case's bytes, as the fixture file holds them. */
export function encodeQueryCases(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, m] of queryCases()) out.set(name, encodeQueryMessage(m, QUERY_VERSION));
  for (const c of queryPacketCases()) out.set(c.name, sealQueryCase(c));
  return out;
}

export function formatQueryFixture(cases: Map<string, Uint8Array>): string {
  const head = [
    `# Golden wire fixtures, protocol ${QUERY_VERSION} queries: message bodies (no envelope) and whole packets (packet-*).`,
    '# Released bytes: never edit or regenerate this file (see docs/compatibility.md).',
  ];
  return `${[...head, ...[...cases].map(([name, b]) => `${name} ${Buffer.from(b).toString('hex')}`)].join('\n')}\n`;
}

export function readQueryFixture(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const line of readFileSync(QUERY_FIXTURE, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, hex] = line.split(' ') as [string, string];
    out.set(name, Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  return out;
}

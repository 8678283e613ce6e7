/**
 * The events-and-queries half of `bench:serf`: on agents that are already up and converged, the same
 * way for serf and for ours,
 *   event      from the instant a user event is issued (serf's RPC `event`, our `POST /event`) until the
 *              last agent's event handler has run: each agent's handler script appends the event's payload
 *              and `date +%s%N` to a file of its own, so the time is the handler's, not a poll's;
 *   query      from the instant a query is issued (serf's RPC `query`, our `POST /query`) until the querier
 *              holds an ack, and a response, from every agent; every agent answers through a query handler
 *              script (`echo`), so both sides pay one shell per answer.
 * Events are issued one at a time, each after the previous one reached every handler, so that neither
 * side's coalescing merges two of them; `coalesce=false` is the delivery time itself, the default
 * (coalescing) adds whatever delay each side's coalescing holds an event for.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { decodeMultiStream, encode } from '@msgpack/msgpack';

const EVENT = 'bench';
const QUERY = 'bench';
/** How long an event may take to reach every handler, and a query's timeout, before they count as incomplete. */
const EVENT_WAIT_MS = 15_000;
const QUERY_TIMEOUT_MS = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Median and worst of a sample, in milliseconds, over the complete ones; `incomplete`: how many
 * never completed (an event some handler did not run for, a query some agent did not answer)
 * within the wait, and are left out of the figures.
 */
export interface Spread {
  readonly medianMs: number;
  readonly maxMs: number;
  readonly samples: number;
  readonly incomplete: number;
}

export interface EventsResult {
  /** User events without coalescing: issue to the last handler. */
  readonly event: Spread;
  /** User events with each side's default coalescing: issue to the last handler. */
  readonly eventCoalesced: Spread;
  /** Queries: issue to the last agent's ack. */
  readonly queryAcks: Spread;
  /** Queries: issue to the last agent's response. */
  readonly queryResponses: Spread;
}

function spread(all: readonly (number | null)[]): Spread {
  const s = all.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const incomplete = all.length - s.length;
  if (s.length === 0) return { medianMs: NaN, maxMs: NaN, samples: 0, incomplete };
  const mid = s.length >> 1;
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  const round = (x: number): number => Math.round(x * 10) / 10;
  return { medianMs: round(median), maxMs: round(s[s.length - 1] as number), samples: s.length, incomplete };
}

function outFile(dir: string, name: string): string {
  return join(dir, `${name}.events`);
}

/**
 * Writes this agent's two handler scripts and returns the agent flags that install them. The user
 * event handler reads the payload from stdin (both sides give it there) and appends "PAYLOAD NS".
 */
export function handlerFlags(side: 'serf' | 'ours', dir: string, name: string): string[] {
  const user = join(dir, `${name}-user.sh`);
  const query = join(dir, `${name}-query.sh`);
  writeFileSync(user, `#!/bin/sh\np=$(cat)\necho "$p $(date +%s%N)" >> '${outFile(dir, name)}'\n`);
  writeFileSync(query, `#!/bin/sh\ncat >/dev/null\necho '${name}'\n`);
  chmodSync(user, 0o755);
  chmodSync(query, 0o755);
  writeFileSync(outFile(dir, name), '');
  return side === 'serf'
    ? ['-event-handler', `user:${EVENT}=${user}`, '-event-handler', `query:${QUERY}=${query}`]
    : ['--event-handler', `user:${EVENT}=${user}`, '--event-handler', `query:${QUERY}=${query}`];
}

/** When each agent's handler ran for this payload (ms since the epoch), or null while one has not. */
function handlerTimes(dir: string, names: readonly string[], payload: string): number[] | null {
  const times: number[] = [];
  for (const name of names) {
    const line = readFileSync(outFile(dir, name), 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${payload} `));
    if (!line) return null;
    times.push(Number(BigInt(line.slice(payload.length + 1)) / 1000n) / 1000);
  }
  return times;
}

/** One serf RPC request on a connection of its own; yields the response objects as they arrive. */
async function* serfRpc(port: number, command: string, body: unknown): AsyncGenerator<Record<string, unknown>> {
  const socket = connect(port, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(encode({ Command: 'handshake', Seq: 0 }));
    socket.write(encode({ Version: 1 }));
    socket.write(encode({ Command: command, Seq: 1 }));
    socket.write(encode(body));
    for await (const o of decodeMultiStream(socket)) {
      const obj = o as Record<string, unknown>;
      if (typeof obj.Error === 'string' && obj.Error !== '') throw new Error(`serf rpc ${command}: ${obj.Error}`);
      yield obj;
    }
  } finally {
    socket.destroy();
  }
}

async function issueEvent(side: 'serf' | 'ours', api: number, payload: string, coalesce: boolean): Promise<void> {
  if (side === 'serf') {
    // Two objects come back: the handshake's header, then the event's.
    let headers = 0;
    for await (const o of serfRpc(api, 'event', { Name: EVENT, Payload: Buffer.from(payload), Coalesce: coalesce }))
      if ('Seq' in o && ++headers === 2) return;
    throw new Error('serf rpc event: connection closed before the answer');
  }
  const res = await fetch(`http://127.0.0.1:${api}/event`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: EVENT, payload, coalesce }),
  });
  if (!res.ok) throw new Error(`POST /event: ${res.status} ${await res.text()}`);
}

/**
 * Issues one query; resolves with the times (ms since issue) of the last ack and of the last response,
 * each null when some agent's never came before the query's timeout.
 */
async function timeQuery(
  side: 'serf' | 'ours',
  api: number,
  names: readonly string[],
  timeoutMs: number,
): Promise<{ acksMs: number | null; responsesMs: number | null }> {
  const acks = new Map<string, number>();
  const responses = new Map<string, number>();
  const done = (): boolean => acks.size === names.length && responses.size === names.length;
  const record = (kind: unknown, from: unknown, t0: number): void => {
    if (typeof from !== 'string' || !names.includes(from)) return;
    if (kind === 'ack') acks.set(from, Date.now() - t0);
    if (kind === 'response') responses.set(from, Date.now() - t0);
  };
  const t0 = Date.now();
  if (side === 'serf') {
    const body = {
      FilterNodes: [],
      FilterTags: {},
      RequestAck: true,
      RelayFactor: 0,
      Timeout: timeoutMs * 1e6, // a Go time.Duration, in nanoseconds
      Name: QUERY,
      Payload: Buffer.from('q'),
    };
    for await (const o of serfRpc(api, 'query', body)) {
      record(o.Type, o.From, t0);
      if (done() || o.Type === 'done') break;
    }
  } else {
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${api}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: QUERY, payload: 'q', timeoutMs, ack: true }),
      signal: abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`POST /query: ${res.status} ${await res.text()}`);
    let buf = '';
    try {
      for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line === '') continue;
          const answer = JSON.parse(line) as { kind?: string; from?: string };
          record(answer.kind, answer.from, t0);
        }
        if (done()) break;
      }
    } finally {
      abort.abort();
    }
  }
  const last = (m: Map<string, number>): number | null => (m.size === names.length ? Math.max(...m.values()) : null);
  return { acksMs: last(acks), responsesMs: last(responses) };
}

/**
 * Issues `count` events of each kind and `count` queries, each from a different agent in turn, and
 * times them. `apis[i]` is agent i's RPC (serf) or HTTP (ours) port, `names[i]` its node name.
 */
export async function measureEvents(
  side: 'serf' | 'ours',
  apis: readonly number[],
  names: readonly string[],
  dir: string,
  count: number,
): Promise<EventsResult> {
  const eventTimes = async (coalesce: boolean): Promise<(number | null)[]> => {
    const out: (number | null)[] = [];
    for (let k = 0; k < count; k++) {
      const payload = `${coalesce ? 'c' : 'u'}${k}`;
      const from = k % apis.length;
      const t0 = Date.now();
      await issueEvent(side, apis[from] as number, payload, coalesce);
      const deadline = t0 + EVENT_WAIT_MS;
      let times: number[] | null;
      while (!(times = handlerTimes(dir, names, payload)) && Date.now() < deadline) await sleep(20);
      out.push(times ? Math.max(...times) - t0 : null);
      await sleep(200);
    }
    return out;
  };
  const event = spread(await eventTimes(false));
  const eventCoalesced = spread(await eventTimes(true));
  const acks: (number | null)[] = [];
  const responses: (number | null)[] = [];
  for (let k = 0; k < count; k++) {
    const r = await timeQuery(side, apis[k % apis.length] as number, names, QUERY_TIMEOUT_MS);
    acks.push(r.acksMs);
    responses.push(r.responsesMs);
    await sleep(300);
  }
  return { event, eventCoalesced, queryAcks: spread(acks), queryResponses: spread(responses) };
}

const KINDS = ['event', 'eventCoalesced', 'queryAcks', 'queryResponses'] as const;

/** Ours over serf, median against median, per measure. */
export function eventRatios(ours: EventsResult, serf: EventsResult): Record<(typeof KINDS)[number], number> {
  const out = {} as Record<(typeof KINDS)[number], number>;
  for (const k of KINDS) out[k] = ours[k].medianMs / serf[k].medianMs;
  return out;
}

/** The table's lines: one per measure, medians (and worst) for each side. */
export function eventsTable(ours: EventsResult, serf: EventsResult): string[] {
  const label: Record<(typeof KINDS)[number], string> = {
    event: 'event -> all handlers',
    eventCoalesced: 'event (coalesce) -> all',
    queryAcks: 'query -> all acks',
    queryResponses: 'query -> all responses',
  };
  const cell = (s: Spread): string =>
    `${s.medianMs.toFixed(0)} (${s.maxMs.toFixed(0)})${s.incomplete ? ` ${s.incomplete}!` : ''}`.padStart(14);
  const ratios = eventRatios(ours, serf);
  return [
    `${'ms: median (worst)'.padEnd(24)} ${'serf'.padStart(14)} ${'ours'.padStart(14)} ours/serf`,
    ...KINDS.map((k) => `${label[k].padEnd(24)} ${cell(serf[k])} ${cell(ours[k])} ${ratios[k].toFixed(2).padStart(9)}`),
    ...(KINDS.some((k) => ours[k].incomplete + serf[k].incomplete > 0)
      ? ['"k!": k of them incomplete (a handler not run, an answer not come), left out of the figures']
      : []),
  ];
}

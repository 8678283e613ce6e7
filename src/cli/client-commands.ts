/**
 * The subcommands other than `agent`: all but keygen talk to a running agent over its HTTP API
 * (client.js); keygen prints a key for --key-file and --http-token-file.
 */
import { randomBytes } from 'node:crypto';
import { parseHostPort } from '../runtime/config.js';
import { AgentError, api, post, sse, table, unreachable, type MemberJson } from './client.js';
import { fail } from './usage.js';
import { agentTarget, HTTP_FLAG, HTTP_HELP, parseTags, str, type Command } from './command.js';

/** In the order `scuttlebutt --help` lists them. */
export const CLIENT_COMMANDS: Record<string, Command> = {
  members: {
    summary: 'list the members a running agent knows',
    usage: `usage: scuttlebutt members [--status live|dead] [--tag KEY=VALUE ...] [--json] [--http HOST:PORT]

  --status live|dead  only members of this status
  --tag KEY=VALUE     only members whose metadata has KEY=VALUE; repeatable (all must match)
  --json              the API's JSON instead of a table
${HTTP_HELP}`,
    flags: {
      status: { type: 'string' },
      tag: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      ...HTTP_FLAG,
    },
    async run(values) {
      const q = new URLSearchParams();
      if (values.status !== undefined) {
        if (values.status !== 'live' && values.status !== 'dead')
          fail(`--status must be live or dead (got "${str(values.status)}")`, 'members');
        q.append('status', str(values.status));
      }
      parseTags((values.tag as string[] | undefined) ?? [], '--tag', 'members');
      for (const t of (values.tag as string[] | undefined) ?? []) q.append('tag', t);
      const qs = q.toString();
      const state = (await api(agentTarget(values), `/members${qs ? `?${qs}` : ''}`)) as {
        live: MemberJson[];
        dead: MemberJson[];
      };
      if (values.json) return void process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
      const rows = [...state.live, ...state.dead].map((m) => [
        m.id,
        m.address,
        m.status,
        Object.entries(m.metadata)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      ]);
      table(['NODE', 'ADDRESS', 'STATUS', 'METADATA'], rows);
    },
  },
  monitor: {
    summary: 'stream membership events from a running agent',
    usage: `usage: scuttlebutt monitor [--replay] [--json] [--http HOST:PORT]

Prints each event (live, dead, update, removed, user events and queries, ...) as it happens, until the agent
goes away.
  --replay  first print the events the agent still holds (its buffer)
  --json    one JSON object per line (the /events data) instead of text
${HTTP_HELP}`,
    flags: { replay: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, ...HTTP_FLAG },
    async run(values) {
      const http = str(values.http);
      if (!parseHostPort(http)) fail(`--http must be HOST:PORT (got "${http}")`, 'monitor');
      let res: Response;
      try {
        res = await fetch(`http://${http}/events${values.replay ? '?since=start' : ''}`, {
          headers: { accept: 'text/event-stream' },
        });
      } catch (err) {
        throw unreachable(http, err);
      }
      if (!res.ok || !res.body) throw new AgentError(`http://${http}/events answered HTTP ${res.status}`, res.status);
      const events = sse(res.body);
      for (;;) {
        let next: IteratorResult<{ id?: string; event: string; data: string }>;
        try {
          next = await events.next();
        } catch {
          break; // the connection was cut: the agent died
        }
        if (next.done) break;
        const e = next.value;
        if (values.json) {
          process.stdout.write(
            `${e.event === 'gap' ? JSON.stringify({ type: 'gap', ...(JSON.parse(e.data) as object) }) : e.data}\n`,
          );
          continue;
        }
        const d = JSON.parse(e.data) as {
          time?: string;
          node?: MemberJson;
          reason?: string;
          keys?: string[];
          message?: string;
        };
        if (e.event === 'gap') {
          process.stdout.write(`${new Date().toISOString()}  ${e.event.padEnd(7)}  ${d.message ?? e.data}\n`);
          continue;
        }
        if (e.event === 'user' || e.event === 'query') {
          // "deploy from api-1 (Lamport time 7): v42", in the words of `scuttlebutt event` and `query`.
          const u = d as { name?: string; origin?: string; ltime?: number; payload?: string; payloadBase64?: string };
          const payload = u.payload ?? (u.payloadBase64 === undefined ? '' : `(base64) ${u.payloadBase64}`);
          const said = payload === '' ? '' : `: ${payload}`;
          process.stdout.write(
            `${d.time}  ${e.event.padEnd(7)}  ${u.name} from ${u.origin} (Lamport time ${u.ltime})${said}\n`,
          );
          continue;
        }
        if (!d.node) {
          const fields = Object.entries(d as Record<string, unknown>).filter(
            ([k]) => k !== 'id' && k !== 'type' && k !== 'time',
          );
          const shown = fields.map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : String(v)}`);
          process.stdout.write(`${d.time ?? new Date().toISOString()}  ${e.event.padEnd(7)}  ${shown.join(' ')}\n`);
          continue;
        }
        const extra = d.reason ? ` (${d.reason})` : d.keys ? ` keys: ${d.keys.join(', ')}` : '';
        process.stdout.write(
          `${d.time}  ${e.event.padEnd(7)}  ${d.node.id}  ${d.node.address}  generation ${d.node.generation}${extra}\n`,
        );
      }
      throw new AgentError(`the event stream from http://${http} ended (the agent stopped)`);
    },
  },
  join: {
    summary: 'make a running agent join through seeds',
    usage: `usage: scuttlebutt join HOST:PORT [HOST:PORT ...] [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [1, 256],
    async run(values, positionals) {
      // The agent checks the seeds (and knows every seed syntax it accepts); its message is printed.
      const seeds = positionals.flatMap((p) => p.split(',')).filter(Boolean);
      const r = (await post(agentTarget(values), '/join', { seeds })) as { seeds: string[] };
      process.stdout.write(`joining through ${r.seeds.join(', ')}\n`);
    },
  },
  leave: {
    summary: 'make a running agent leave the cluster gracefully and exit',
    usage: `usage: scuttlebutt leave [--http HOST:PORT]

Every live peer is told at once; the agent then stops.
${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    async run(values) {
      const r = (await post(agentTarget(values), '/leave', {})) as { left: string };
      process.stdout.write(`${r.left} left the cluster\n`);
    },
  },
  'force-leave': {
    summary: 'remove a dead member now, cluster-wide',
    usage: `usage: scuttlebutt force-leave NODE_ID [--http HOST:PORT]

A dead member is removed from the agent's membership at once and marked left on every live peer,
so it is not revived by stale gossip. A live member is refused (it would gossip its way back).
${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [1, 1],
    async run(values, positionals) {
      await post(agentTarget(values), '/force-leave', { node: positionals[0] });
      process.stdout.write(`${positionals[0]} removed\n`);
    },
  },
  keygen: {
    summary: 'print a fresh random key for --key-file',
    usage: `usage: scuttlebutt keygen [--bytes 16|24|32]

Prints a random key in base64 (32 bytes, AES-256, by default): scuttlebutt keygen > /etc/scuttlebutt/keys`,
    flags: { bytes: { type: 'string', default: '32' } },
    run(values) {
      const n = Number(values.bytes);
      if (![16, 24, 32].includes(n)) fail(`--bytes must be 16, 24 or 32 (got "${str(values.bytes)}")`, 'keygen');
      process.stdout.write(`${randomBytes(n).toString('base64')}\n`);
      return Promise.resolve();
    },
  },
  get: {
    summary: "print one member's metadata key",
    usage: `usage: scuttlebutt get NODE_ID KEY [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [2, 2],
    async run(values, [id, key]) {
      const r = (await api(
        agentTarget(values),
        `/kv/${encodeURIComponent(id as string)}/${encodeURIComponent(key as string)}`,
      )) as { value: string };
      process.stdout.write(`${r.value}\n`);
    },
  },
  set: {
    summary: "set a key of the agent's own metadata",
    usage: `usage: scuttlebutt set KEY VALUE [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [2, 2],
    async run(values, [key, value]) {
      await api(agentTarget(values), `/kv/${encodeURIComponent(key as string)}`, {
        method: 'PUT',
        body: value as string,
      });
    },
  },
  delete: {
    summary: "delete a key of the agent's own metadata",
    usage: `usage: scuttlebutt delete KEY [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [1, 1],
    async run(values, [key]) {
      await api(agentTarget(values), `/kv/${encodeURIComponent(key as string)}`, { method: 'DELETE' });
    },
  },
};

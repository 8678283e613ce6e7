/** A node's counters in the Prometheus text exposition format (0.0.4). */
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function prometheusText(node: Scuttlebutt): string {
  const s = node.stats();
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${value}`);
    }
  };
  metric('scuttlebutt_packets_received_total', 'counter', 'UDP packets received.', [[{}, s.packetsIn]]);
  metric('scuttlebutt_packets_sent_total', 'counter', 'UDP packets sent.', [[{}, s.packetsOut]]);
  metric('scuttlebutt_bytes_received_total', 'counter', 'UDP payload bytes received.', [[{}, s.bytesIn]]);
  metric('scuttlebutt_bytes_sent_total', 'counter', 'UDP payload bytes sent.', [[{}, s.bytesOut]]);
  metric('scuttlebutt_gossip_rounds_total', 'counter', 'Gossip rounds run.', [[{}, s.gossipRounds]]);
  metric('scuttlebutt_packets_dropped_total', 'counter', 'Incoming packets dropped, by reason.', Object.entries(s.dropped).map(([reason, n]) => [{ reason }, n]));
  metric('scuttlebutt_state_rejected_total', 'counter', 'Incoming state refused by the protocol core, by reason.', Object.entries(s.rejected).map(([reason, n]) => [{ reason }, n]));
  metric('scuttlebutt_members', 'gauge', 'Members known, by status.', [[{ status: 'live' }, s.liveMembers], [{ status: 'dead' }, s.deadMembers]]);
  return `${lines.join('\n')}\n`;
}

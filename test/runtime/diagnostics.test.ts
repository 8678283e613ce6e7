/**
 * node:diagnostics_channel from a library node, with no agent and no metrics package: a node in
 * this process, a peer in a child process over loopback UDP, and a real SIGKILL.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import diagnostics_channel from 'node:diagnostics_channel';
import {
  createScuttlebutt,
  diagnosticsChannels,
  type DropMessage,
  type MemberMessage,
  type NodeMessage,
  type PacketMessage,
  type Scuttlebutt,
  type ThrottleMessage,
} from '../../src/index.js';
import { freePorts, killAll, NodeProc, waitFor } from './procs.js';

const procs: NodeProc[] = [];
after(() => killAll(procs));

test('diagnostics channels: start, packets in and out matching stats(), drops, throttling, members, the convicting silence, stop', async () => {
  const got: Record<string, unknown[]> = {};
  const handlers = Object.values(diagnosticsChannels).map((name) => {
    const fn = (msg: unknown): void => void (got[name] ??= []).push(msg);
    diagnostics_channel.subscribe(name, fn);
    return [name, fn] as const;
  });
  const of = <T extends NodeMessage>(name: string, node: Scuttlebutt): T[] =>
    ((got[name] ?? []) as T[]).filter((m) => m.node === node);
  let node: Scuttlebutt | undefined;
  try {
    const [pa, pb] = freePorts(2) as [number, number];
    const a = (node = await createScuttlebutt({
      clusterId: 'test',
      node: { id: 'lib', gossipPublicAddress: `127.0.0.1:${pa}` },
      listenAddress: `127.0.0.1:${pa}`,
      gossipIntervalMs: 200,
      failureDetector: { firstHeartbeatEstimateMs: 200 },
    }));
    assert.equal(of(diagnosticsChannels.nodeStart, a).length, 1);
    const b = new NodeProc({ id: 'peer', port: pb, seeds: [`127.0.0.1:${pa}`] });
    procs.push(b);
    const lives = (): MemberMessage[] =>
      of<MemberMessage>(diagnosticsChannels.member, a).filter(
        (m) => m.event.type === 'live' && m.event.node.id === 'peer',
      );
    await waitFor(() => lives().length > 0, 10_000, 'lib sees peer live');
    assert.equal(lives()[0]?.silenceMs, undefined);
    await new Promise((r) => setTimeout(r, 1500)); // a few heartbeats, so the detector has samples

    // A corrupt packet is dropped, counted, and published with the same reason.
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.send(Buffer.from('not a scuttlebutt packet'), pa, '127.0.0.1', () => r()));
    sock.close();
    await waitFor(() => of(diagnosticsChannels.drop, a).length > 0, 2000, 'a drop published');
    const drop = of<DropMessage>(diagnosticsChannels.drop, a)[0] as DropMessage;
    assert.ok((a.stats().dropped[drop.reason] ?? 0) >= 1, `${drop.reason} in ${JSON.stringify(a.stats().dropped)}`);

    // A burst of writes beyond what gossip carries: flow control holds them back, and says so.
    for (let i = 0; i < 2000; i++) a.set(`k${i % 300}`, `${'x'.repeat(200)}${i}`);
    await waitFor(
      () =>
        of<ThrottleMessage>(diagnosticsChannels.throttle, a).some((m) => m.throttled && m.backlog > 0 && m.rate > 0),
      3000,
      'a throttle message',
    );
    await new Promise((r) => setTimeout(r, 1000));

    const killedAt = performance.now();
    b.kill('SIGKILL');
    const deaths = (): MemberMessage[] =>
      of<MemberMessage>(diagnosticsChannels.member, a).filter((m) => m.event.type === 'dead');
    await waitFor(() => deaths().length > 0, 15_000, 'lib convicts peer');
    const convictedBy = performance.now(); // member messages come a turn after conviction: an upper bound
    const death = deaths()[0] as MemberMessage;
    assert.equal(death.event.type === 'dead' && death.event.reason, 'suspected');
    const silence = death.silenceMs as number;
    assert.equal(typeof silence, 'number');
    // Silence is counted from the newest heartbeat's birth, which came before the kill (50 ms age
    // units of rounding), and at most one 200 ms period plus gossip lag before it.
    assert.ok(
      silence >= convictedBy - killedAt - 100 - 50,
      `silence ${silence} ms, kill to conviction at most ${convictedBy - killedAt} ms`,
    );
    assert.ok(
      silence <= convictedBy - killedAt + 200 + 400,
      `silence ${silence} ms, kill to conviction at most ${convictedBy - killedAt} ms`,
    );

    await a.shutdown();
    const s = a.stats();
    const sum = (name: string): number => of<PacketMessage>(name, a).reduce((n, m) => n + m.bytes, 0);
    assert.equal(of(diagnosticsChannels.packetIn, a).length, s.packetsIn);
    assert.equal(sum(diagnosticsChannels.packetIn), s.bytesIn);
    assert.equal(of(diagnosticsChannels.packetOut, a).length, s.packetsOut);
    assert.equal(sum(diagnosticsChannels.packetOut), s.bytesOut);
    assert.ok(s.packetsIn > 5 && s.packetsOut > 5, JSON.stringify(s));
    assert.ok(of<PacketMessage>(diagnosticsChannels.packetOut, a).every((m) => m.peer === `127.0.0.1:${pb}`));
    assert.equal(of(diagnosticsChannels.nodeStop, a).length, 1);
  } finally {
    await node?.shutdown();
    for (const [name, fn] of handlers) diagnostics_channel.unsubscribe(name, fn);
  }
});

/**
 * The agent's web dashboard (/ui): a members table and a timeline of membership events, user events
 * and queries, kept live by /events and refreshed from /members (the detector's figures) and /ring
 * (each member's share of the hash ring) once a second. Plain HTML,
 * CSS and browser JavaScript kept as strings, so the build ships them with the agent (no copy
 * step, no framework). The page only reads: it never calls a route that changes the agent.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>scuttlebutt</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/style.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header>
  <h1>scuttlebutt <span id="self"></span></h1>
  <div id="summary"><span id="counts"></span> <span id="conn" class="conn down">connecting…</span></div>
</header>
<main>
  <section>
    <h2>Members</h2>
    <table id="members">
      <thead><tr>
        <th>node</th><th>status</th><th>address</th><th>generation</th><th>heartbeat</th>
        <th
          title="silence since the newest heartbeat's birth, against the silence at which the member is convicted"
        >deadline</th>
        <th title="phi (suspicion), convicted above the threshold">phi</th>
        <th title="the owner's heartbeat period, mean ± std, and the gossip-lag allowance">rhythm</th>
        <th title="the share of the hash ring's key space the member owns (GET /ring)">ring</th>
        <th>metadata</th>
      </tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Timeline</h2>
    <ol id="timeline"></ol>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root {
  --bg: #0f1419; --panel: #171d24; --fg: #d8dee6; --dim: #7d8896;
  --live: #3fb950; --dead: #f85149; --warn: #d29922; --line: #27303a; --user: #58a6ff; --query: #bc8cff;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
}
header {
  display: flex; justify-content: space-between; align-items: baseline;
  padding: 14px 22px; border-bottom: 1px solid var(--line);
}
h1 { margin: 0; font-size: 18px; font-weight: 600; }
h1 span { color: var(--dim); font-weight: 400; font-size: 14px; margin-left: 8px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--dim); margin: 0 0 8px; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 270px; gap: 18px; padding: 18px 22px; }
section {
  background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; overflow: auto;
}
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td {
  text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  white-space: nowrap; font-size: 13px;
}
td:last-child { white-space: normal; min-width: 120px; }
th { color: var(--dim); font-weight: 500; font-size: 12px; }
tr.self td:first-child::after { content: " (self)"; color: var(--dim); }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.status.live { background: rgba(63,185,80,.15); color: var(--live); }
.status.dead { background: rgba(248,81,73,.15); color: var(--dead); }
tr[data-status="dead"] td { color: var(--dim); }
.bar {
  display: inline-block; vertical-align: middle; width: 90px; height: 8px;
  border-radius: 4px; background: var(--line); overflow: hidden; margin-right: 6px;
}
.bar i { display: block; height: 100%; background: var(--live); }
.bar i.warn { background: var(--warn); } .bar i.crit { background: var(--dead); }
.tag {
  display: inline-block; background: var(--line); border-radius: 4px;
  padding: 0 6px; margin: 0 4px 2px 0; font-size: 12px;
}
.dim { color: var(--dim); }
.conn { font-size: 12px; padding: 2px 8px; border-radius: 10px; }
.conn.up { color: var(--live); } .conn.down { color: var(--warn); }
#timeline { list-style: none; margin: 0; padding: 0; max-height: 70vh; overflow: auto; font-size: 13px; }
#timeline li { padding: 4px 0; border-bottom: 1px solid var(--line); }
#timeline time { color: var(--dim); margin-right: 6px; font-variant-numeric: tabular-nums; }
#timeline .ev { font-weight: 600; margin-right: 6px; }
#timeline .ev.live { color: var(--live); } #timeline .ev.dead { color: var(--dead); }
#timeline .ev.gap, #timeline .ev.throttled { color: var(--warn); }
#timeline .ev.user { color: var(--user); } #timeline .ev.query { color: var(--query); }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
`;

export const DASHBOARD_JS = `'use strict';
(() => {
  const members = new Map();
  let shares = null;
  let selfId = '';
  let threshold = 8;
  let appliedSeq = -1;
  let epoch = '';
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const k of kids) e.append(k);
    return e;
  };
  const seqOf = (id) => {
    const m = /^(\\d+)-(\\d+)$/.exec(id || '');
    return m ? { epoch: m[1], seq: Number(m[2]) } : null;
  };
  const ms = (v) =>
    v >= 10000 ? (v / 1000).toFixed(0) + ' s' : v >= 1000 ? (v / 1000).toFixed(1) + ' s' : Math.round(v) + ' ms';

  function deadlineCell(m) {
    if (m.id === selfId) return el('span', { className: 'dim', textContent: '—' });
    if (m.status !== 'live') return el('span', { className: 'dim', textContent: 'convicted' });
    // Protocol 7: this node times only its neighbours' beats; the rest are watched by theirs, which report.
    if (!m.silence) {
      return el('span', { className: 'dim', title: 'watched by its own neighbours', textContent: 'by neighbours' });
    }
    const { silentForMs, convictAfterMs } = m.silence;
    const frac = Math.max(0, Math.min(1, silentForMs / convictAfterMs));
    const fill = el('i', { className: frac > 0.8 ? 'crit' : frac > 0.5 ? 'warn' : '' });
    fill.style.width = (frac * 100).toFixed(0) + '%';
    return el(
      'span',
      { title: 'convicted after ' + ms(convictAfterMs) + ' of silence' },
      el('span', { className: 'bar' }, fill),
      ms(silentForMs) + ' / ' + ms(convictAfterMs),
    );
  }

  /** The member's share of the ring (live members only: the dead own nothing). */
  function share(m) {
    if (!shares || m.status !== 'live' || !Object.hasOwn(shares, m.id)) return '—';
    return (shares[m.id] * 100).toFixed(1) + '%';
  }

  function render() {
    const body = $('#members tbody');
    const rows = [...members.values()].sort((a, b) => a.id.localeCompare(b.id));
    const frag = document.createDocumentFragment();
    for (const m of rows) {
      const tr = el('tr');
      tr.dataset.id = m.id;
      tr.dataset.status = m.status;
      if (m.id === selfId) tr.className = 'self';
      const d = m.detector;
      const tags = el('td');
      for (const [k, v] of Object.entries(m.metadata || {})) {
        tags.append(el('span', { className: 'tag', textContent: k + '=' + v }));
      }
      const phi = m.status === 'live' && m.silence ? m.silence.phi : null;
      tr.append(
        el('td', { textContent: m.id }),
        el('td', {}, el('span', { className: 'status ' + m.status, textContent: m.status })),
        el('td', { textContent: m.address }),
        el('td', { textContent: String(m.generation) }),
        el('td', { textContent: String(m.heartbeat) }),
        el('td', {}, deadlineCell(m)),
        el('td', {
          textContent: phi === null ? '—' : phi >= 1e6 ? '∞' : phi.toFixed(2),
          className: phi !== null && phi > threshold / 2 ? 'dim' : '',
        }),
        el('td', {
          textContent: d
            ? ms(d.meanIntervalMs) + ' ± ' + ms(d.stdIntervalMs) + ', lag ' + ms(d.lagAllowanceMs)
            : '—',
        }),
        el('td', { className: 'share', textContent: share(m) }),
        tags,
      );
      frag.append(tr);
    }
    body.replaceChildren(frag);
    const live = rows.filter((m) => m.status === 'live').length;
    $('#counts').textContent = live + ' live, ' + (rows.length - live) + ' dead';
  }

  function timeline(type, data) {
    const li = el('li');
    li.dataset.type = type;
    if (data.node) li.dataset.id = data.node.id;
    const t = data.time ? new Date(data.time) : new Date();
    li.append(
      el('time', { textContent: t.toLocaleTimeString() }),
      el('span', { className: 'ev ' + type, textContent: type }),
    );
    if (type === 'gap') li.append(el('span', { className: 'dim', textContent: data.message }));
    else if (type === 'user' || type === 'query') {
      li.dataset.name = data.name;
      const payload = data.payload !== undefined ? data.payload : '(base64) ' + data.payloadBase64;
      const said = payload ? ': ' + payload.slice(0, 120) : '';
      li.append(
        el('span', { textContent: data.name }),
        el('span', { className: 'dim', textContent: ' from ' + data.origin + said }),
      );
    } else if (!data.node) {
      const fields = Object.entries(data).filter(([k]) => k !== 'id' && k !== 'type' && k !== 'time');
      const shown = fields.map(([k, v]) => k + ' ' + (typeof v === 'number' ? Math.round(v * 10) / 10 : v));
      li.append(el('span', { className: 'dim', textContent: shown.join(', ') }));
    } else {
      li.append(el('span', { textContent: data.node ? data.node.id : '' }));
      const extra = data.reason ? ' (' + data.reason + ')' : data.keys ? ' ' + data.keys.join(', ') : '';
      if (extra) li.append(el('span', { className: 'dim', textContent: extra }));
    }
    const list = $('#timeline');
    list.prepend(li);
    while (list.children.length > 300) list.lastChild.remove();
  }

  async function load() {
    try {
      const res = await fetch('/members', { cache: 'no-store' });
      if (!res.ok) return;
      const snap = await res.json();
      selfId = snap.self.id;
      threshold = snap.phiThreshold || threshold;
      $('#self').textContent = selfId + ' · ' + snap.self.address;
      members.clear();
      for (const m of [...snap.live, ...snap.dead]) members.set(m.id, m);
      const at = seqOf(snap.lastEventId);
      if (at) { epoch = at.epoch; appliedSeq = Math.max(appliedSeq, at.seq); }
      // An agent of an older release has no /ring: the column stays empty.
      const ring = await fetch('/ring', { cache: 'no-store' });
      shares = ring.ok ? (await ring.json()).shares : null;
      render();
    } catch (e) { /* the agent is away: the connection badge says so */ }
  }

  function apply(type, ev) {
    let data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    timeline(type, data);
    if (type === 'gap') return void load();
    const at = seqOf(ev.lastEventId);
    // Events the /members snapshot already holds are only shown, not applied again.
    if (at && at.epoch === epoch && at.seq <= appliedSeq) return;
    if (at) appliedSeq = at.seq;
    if (!data.node) return;
    if (type === 'removed') members.delete(data.node.id);
    else if (data.node) members.set(data.node.id, data.node);
    render();
  }

  function connect() {
    const es = new EventSource('/events?since=start');
    es.onopen = () => { const c = $('#conn'); c.textContent = 'live'; c.className = 'conn up'; };
    es.onerror = () => { const c = $('#conn'); c.textContent = 'reconnecting…'; c.className = 'conn down'; };
    for (const type of ['live', 'dead', 'update', 'removed', 'throttled', 'unthrottled', 'gap', 'user', 'query']) {
      es.addEventListener(type, (ev) => apply(type, ev));
    }
    es.onmessage = (ev) => apply('message', ev);
  }

  load().then(connect);
  setInterval(load, 1000);
})();
`;

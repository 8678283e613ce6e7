import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'puppeteer-core';
import { getJson, killAll, liveIds, postJson, startAgent, waitFor, type Agent, type MemberJson } from './agents.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's chromium, headless; null (the test skipped) where it is missing outside CI. */
async function launchBrowser(t: TestContext): Promise<Browser | null> {
  if (!existsSync(CHROMIUM)) {
    // In CI a missing browser is a broken setup (.ci/setup-system.sh installs it), not a reason to pass.
    if (process.env.CI === 'true')
      assert.fail(`${CHROMIUM} is missing: .ci/setup-system.sh should have installed Debian's chromium`);
    t.skip(`no ${CHROMIUM} (apt-get install chromium)`);
    return null;
  }
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

test('dashboard in a real browser: 5 agents, one SIGKILLed, the page shows it dead within the detection time; user events, queries and ring shares', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const agents: Agent[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sb-ui-'));
  const shot = process.env.DASHBOARD_SCREENSHOT ?? join(dir, 'dashboard.png');
  const roles = ['api', 'api', 'db', 'cache', 'worker'];
  try {
    for (let i = 0; i < 5; i++) {
      const join = i === 0 ? [] : ['--join', (agents[0] as Agent).gossip];
      agents.push(
        await startAgent(`node-${i + 1}`, [...join, '--tag', `role=${roles[i]}`, '--tag', `zone=eu-${1 + (i % 2)}`]),
      );
    }
    const a0 = agents[0] as Agent;
    for (const a of agents)
      await waitFor(async () => (await liveIds(a.http)).length === 5, 15_000, `${a.id} sees five`);

    const page = await browser.newPage();
    await page.setViewport({ width: 1440, height: 440 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    await page.goto(`http://${a0.http}/ui`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(`document.querySelectorAll('#members tbody tr[data-status="live"]').length === 5`, {
      timeout: 10_000,
    });
    await page.waitForFunction(`document.querySelector('#conn')?.textContent === 'live'`, { timeout: 5_000 });
    // The detector's view is on the page: a deadline bar for every peer.
    assert.equal(await page.$$eval('#members tbody tr .bar', (b) => b.length), 4);

    const victim = agents[4] as Agent;
    const view = (await getJson<{ live: MemberJson[] }>(a0.http, '/members')).body.live.find((m) => m.id === victim.id);
    const allowance = view?.silence?.convictAfterMs ?? 0;
    assert.ok(allowance > 0, 'a convictAfterMs for the victim');
    const t0 = Date.now();
    victim.proc.kill('SIGKILL');
    // Dead in the table, and in the timeline, which only /events feeds.
    await page.waitForFunction(
      `document.querySelector('#members tbody tr[data-id="${victim.id}"]')?.getAttribute('data-status') === 'dead'`,
      { timeout: allowance + 5_000, polling: 20 },
    );
    const shownAfter = Date.now() - t0;
    await page.waitForFunction(
      `document.querySelector('#timeline li[data-type="dead"][data-id="${victim.id}"]') !== null`,
      { timeout: 2_000 },
    );
    console.log(
      `killed ${victim.id}: shown dead after ${shownAfter} ms (its allowance at the kill: ${allowance} ms of silence)`,
    );
    // Silence had already run for part of the allowance when it was killed, and the page follows the stream at once.
    assert.ok(shownAfter <= allowance + 1_500, `shown dead after ${shownAfter} ms, allowance ${allowance} ms`);
    assert.equal(await page.$$eval('#members tbody tr[data-status="live"]', (r) => r.length), 4);

    // A user event and a query reach the timeline; the ring column shows each live member's share.
    const sent = await postJson(a0.http, '/event', { name: 'deploy', payload: 'v42' });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    await page.waitForFunction(
      `document.querySelector('#timeline li[data-type="user"][data-name="deploy"]') !== null`,
      {
        timeout: 5_000,
      },
    );
    assert.match(
      await page.$eval('#timeline li[data-type="user"]', (li) => li.textContent ?? ''),
      /deploy from node-1: v42/,
    );
    const asked = await fetch(`http://${(agents[1] as Agent).http}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'uptime', ids: [a0.id], timeoutMs: 500 }),
    });
    assert.match(await asked.text(), /"kind":"ack","from":"node-1"/);
    await page.waitForFunction(
      `document.querySelector('#timeline li[data-type="query"][data-name="uptime"]') !== null`,
      {
        timeout: 5_000,
      },
    );
    // Shares are refreshed from /ring every second: within two, the four live members own the whole ring.
    const shareSum = (): Promise<number> =>
      page.$$eval('#members tbody tr[data-status="live"] td.share', (tds) =>
        tds.reduce((sum, td) => sum + Number.parseFloat(td.textContent ?? ''), 0),
      );
    await waitFor(async () => Math.abs((await shareSum()) - 100) < 0.5, 3_000, "the live members' shares add to 100%");
    assert.equal(await page.$$eval('#members tbody tr[data-status="live"] td.share', (t) => t.length), 4);
    assert.equal(await page.$eval(`#members tbody tr[data-id="${victim.id}"] td.share`, (td) => td.textContent), '—');
    // Let a heartbeat or two pass so the bars are mid-way, then keep the picture.
    await new Promise((r) => setTimeout(r, 300));
    await page.screenshot({ path: shot, fullPage: true });
    const png = readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.ok(png.length > 10_000, `screenshot of ${png.length} bytes`);
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await browser.close();
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dashboard in protocol 7: a deadline bar for each neighbour, the others watched by their neighbours', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const agents: Agent[] = [];
  try {
    // Ten agents: K = 4 neighbours each (a few more by symmetry), so every agent has members it does not watch.
    for (let i = 0; i < 10; i++) {
      const join = i === 0 ? [] : ['--join', (agents[0] as Agent).gossip];
      agents.push(await startAgent(`node-${i + 1}`, [...join, '--protocol', '7', '--gate-hold-ms', '0']));
    }
    const a0 = agents[0] as Agent;
    const mode7 = async (a: Agent): Promise<boolean> =>
      (await getJson<{ liveness?: { mode: number } }>(a.http, '/stats')).body.liveness?.mode === 7;
    for (const a of agents) {
      await waitFor(async () => (await liveIds(a.http)).length === 10 && (await mode7(a)), 15_000, `${a.id} in mode 7`);
    }
    // A neighbour's first beats open its window: a second or two after the switch.
    let watched: string[] = [];
    await waitFor(
      async () => {
        const { live } = (await getJson<{ live: MemberJson[] }>(a0.http, '/members')).body;
        watched = live.filter((m) => m.silence !== undefined).map((m) => m.id);
        return watched.length >= 4;
      },
      5_000,
      'node-1 times its neighbours',
    );
    assert.ok(watched.length < 9, `node-1 watches ${watched.length} of 9`);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://${a0.http}/ui`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(`document.querySelectorAll('#members tbody tr[data-status="live"]').length === 10`, {
      timeout: 10_000,
    });
    const cells = await page.$$eval('#members tbody tr', (rows) =>
      rows.map((r) => ({ id: r.getAttribute('data-id'), deadline: r.children[5]?.textContent ?? '' })),
    );
    for (const { id, deadline } of cells) {
      if (id === a0.id) continue;
      if (watched.includes(id as string)) assert.match(deadline, /^[\d.]+ m?s \/ [\d.]+ m?s$/, `${id}: ${deadline}`);
      else assert.equal(deadline, 'by neighbours', `${id}, not watched here`);
    }
    assert.equal(await page.$$eval('#members tbody tr .bar', (b) => b.length), watched.length);
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await browser.close();
    killAll(agents);
  }
});

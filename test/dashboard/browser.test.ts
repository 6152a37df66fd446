// The dashboard end to end in a real browser (Debian's chromium driven by playwright-core): a
// live local world streams, the page shows the task type and its sinks, a flow number changes
// when the source changes its stream, a published event and a buffer deposit show up live.
// No wall-clock assertions: every wait polls a bounded number of times.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { startDashboard, type Dashboard } from '../../src/dashboard/index.ts';
import { E18, startWorld, type World } from './world.ts';

export const CHROMIUM = process.env.BPE_CHROMIUM ?? '/usr/bin/chromium';

/** Polls `read` up to `tries` times, `everyMs` apart, until `ok` holds; returns the last value. */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, tries = 100, everyMs = 100): Promise<T> {
  let v: T | undefined;
  for (let i = 0; i < tries; i++) {
    v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`${what}: still ${JSON.stringify(v)} after ${tries} tries`);
}

describe('dashboard in a browser', () => {
  let world: World;
  let dash: Dashboard;
  let browser: Browser;
  let page: Page;
  let dir: string;
  const pageErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set BPE_CHROMIUM to its path`);
    }
    world = await startWorld();
    dash = await startDashboard({
      deployment: world.deployment,
      clients: world.stack,
      pollMs: 200,
      extra: () => ({ sources: [{ address: world.source.address, name: 'source A', paused: false, requestedRate: world.rate }] }),
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    dir = mkdtempSync(join(tmpdir(), 'bpe-dashboard-'));
    await page.goto(dash.url);
  });
  after(async () => {
    await browser?.close();
    await dash?.close();
    await world?.stack.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the state, the assets and uPlot from node_modules', async () => {
    const state = (await (await fetch(new URL('/api/state', dash.url))).json()) as { taskTypes: { name: string; inflowRate: unknown }[] };
    assert.equal(state.taskTypes[0].name, 'summarize');
    assert.equal(typeof state.taskTypes[0].inflowRate, 'string', 'bigints as decimal strings');
    for (const path of ['/assets/app.js', '/assets/style.css', '/assets/vendor/uPlot.iife.min.js', '/assets/vendor/uPlot.min.css']) {
      const res = await fetch(new URL(path, dash.url));
      assert.equal(res.status, 200, path);
    }
    assert.equal((await fetch(new URL('/assets/../package.json', dash.url))).status, 404);
    assert.equal((await fetch(new URL('/assets/%2e%2e%2fserver.ts', dash.url))).status, 404);
  });

  it('shows the task type, its sinks with positive flows, and the source', async () => {
    const card = page.getByTestId('task-type');
    await card.first().waitFor();
    assert.equal(await card.count(), 1);
    assert.equal(await card.getByTestId('task-type-name').textContent(), 'summarize');
    const rows = card.getByTestId('sink-row');
    await until(() => rows.count(), (n) => n === 2, 'sink rows');
    for (const s of world.sinks) {
      const row = card.locator(`[data-testid="sink-row"][data-address="${s.account.address}"]`);
      assert.equal(await row.getByTestId('sink-declared').textContent(), String(s.capacity));
      const wei = BigInt((await row.getByTestId('sink-flow').getAttribute('data-wei'))!);
      assert.ok(wei > 0n, 'positive flow');
      assert.match((await row.getByTestId('sink-flow').textContent())!.trim(), /^[\d.,]+ TUSDx\/s$/);
    }
    const src = page.locator(`[data-testid="source-row"][data-address="${world.source.address}"]`);
    await src.waitFor();
    assert.match((await src.textContent())!, /source A/);
    assert.equal(await src.getByTestId('source-state').textContent(), 'streaming');
    assert.match((await page.getByTestId('efficiency').textContent())!, /^\d+\.\d %$/);
    await until(() => page.getByTestId('connection').getAttribute('data-state'), (s) => s === 'live', 'connection');
    // Both charts rendered by uPlot.
    assert.equal(await page.locator('[data-testid="efficiency-chart"] .uplot').count(), 1);
    assert.equal(await page.locator('[data-testid="flow-chart"] .uplot').count(), 1);
  });

  it('updates a flow number live when the source changes its stream', async () => {
    const inflow = page.getByTestId('task-type').first().getByTestId('inflow');
    const before = BigInt((await inflow.getAttribute('data-wei'))!);
    const text = await inflow.textContent();
    await bpe.setStream(world.stack, world.source, world.stack.token, world.pool, world.rate * 3n);
    const after = await until(async () => BigInt((await inflow.getAttribute('data-wei'))!), (v) => v > before * 2n, 'inflow after tripling');
    assert.ok(after <= world.rate * 3n);
    assert.notEqual(await inflow.textContent(), text);
    // The chart keeps growing: the page appended samples from the stream.
    const updates = Number(await page.locator('body').getAttribute('data-updates'));
    await until(async () => Number(await page.locator('body').getAttribute('data-updates')), (n) => n > updates + 1, 'live updates');
  });

  it('shows a published event in the log', async () => {
    dash.publish({ name: 'AgentStarted', text: 'sink agent 1 is online', level: 'info' });
    const entry = page.locator('[data-testid="event"][data-name="AgentStarted"]');
    await until(() => entry.count(), (n) => n === 1, 'published entry');
    assert.equal(await entry.getAttribute('data-origin'), 'app');
    assert.match((await entry.textContent())!, /sink agent 1 is online/);
    // Chain events are there too.
    assert.ok((await page.locator('[data-testid="event"][data-name="CapacityRevealed"]').count()) >= 2);
  });

  it('moves the buffer gauge when the buffer gets a deposit', async () => {
    const gauge = page.getByTestId('task-type').first().getByTestId('buffer-gauge');
    const before = BigInt((await gauge.getAttribute('data-level-wei'))!);
    const width = async () => parseFloat((await gauge.getByTestId('buffer-fill').getAttribute('style'))!.replace(/[^\d.]/g, ''));
    const widthBefore = await width();
    await bpe.depositToBuffer(world.stack, world.source, world.stack.token, world.taskTypeId, 4n * E18);
    const level = await until(async () => BigInt((await gauge.getAttribute('data-level-wei'))!), (v) => v >= before + 4n * E18, 'buffer level');
    assert.ok(level >= 4n * E18);
    assert.ok((await width()) >= widthBefore + 39, 'fill grows by 40 % of a 10 TUSDx buffer');
    assert.match((await gauge.getByTestId('buffer-level').textContent())!, /^4(\.\d+)? TUSDx$/);
    await until(() => page.locator('[data-testid="event"][data-name="Deposited"]').count(), (n) => n === 1, 'Deposited in the log');
  });

  it('draws a chart of a nearly flat series, on which uPlot alone hangs the page', async () => {
    // Values constant up to float noise: with uPlot's own y range (1.6.32) the tick loop never ends.
    const drawn = await Promise.race([
      // In the page (a string: this file is compiled without the DOM's types).
      page.evaluate<{ min: number; max: number }>(`(async () => {
        const { safeRange } = await import('/assets/app.js');
        const el = document.createElement('div');
        document.body.append(el);
        const ys = [0.9999997615814209, 1.000000238418579, 0.9999997615814209, 1.000000238418579];
        const u = new uPlot({ width: 300, height: 100, scales: { x: { time: false }, y: { range: safeRange } }, series: [{}, {}] }, [[0, 1, 2, 3], ys], el);
        await new Promise((resolve) => requestAnimationFrame(resolve)); // uPlot lays out on its next commit
        const { min, max } = u.scales.y;
        u.destroy();
        el.remove();
        return { min, max };
      })()`),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000)),
    ]);
    assert.ok(drawn, 'the page hung drawing the chart');
    assert.equal(drawn.min, 0);
    assert.ok(drawn.max > 1.000000238418579, `y range up to ${drawn.max}`);
  });

  it('saves a screenshot', async () => {
    const path = join(dir, 'dashboard.png');
    await page.screenshot({ path, fullPage: true });
    assert.ok(statSync(path).size > 10_000);
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});

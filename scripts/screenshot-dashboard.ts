// Renders docs/dashboard.png: a live local world (anvil + Superfluid + BPE, two sinks, one
// streaming source), the dashboard on it, some activity (a stream change, a buffer deposit, a
// published event), then a full-page screenshot in Debian's chromium via playwright-core.
//   npx tsx scripts/screenshot-dashboard.ts [out.png]
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import * as bpe from '../src/chain/bpe/actions.ts';
import { startDashboard } from '../src/dashboard/index.ts';
import { E18, startWorld } from '../test/dashboard/world.ts';

const CHROMIUM = process.env.BPE_CHROMIUM ?? '/usr/bin/chromium';
const out = process.argv[2] ?? fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
if (!existsSync(CHROMIUM)) {
  console.error(`chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set BPE_CHROMIUM`);
  process.exit(1);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const world = await startWorld();
let paused = false;
const dash = await startDashboard({
  deployment: world.deployment,
  clients: world.stack,
  pollMs: 250,
  extra: () => ({
    sources: [
      { address: world.source.address, name: 'source A', paused: false, requestedRate: world.rate * 3n },
      { address: world.stack.deployer.address, name: 'source B', taskTypeId: world.taskTypeId, paused, requestedRate: world.rate },
    ],
  }),
});
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  dash.publish({ name: 'DevnetStarted', text: 'two sinks, one source, 300 s epochs' });
  await sleep(2500);
  await bpe.setStream(world.stack, world.source, world.stack.token, world.pool, world.rate * 3n);
  dash.publish({ name: 'SourceAdjusted', text: 'source A triples its stream' });
  await sleep(2500);
  await bpe.depositToBuffer(world.stack, world.source, world.stack.token, world.taskTypeId, 6n * E18);
  paused = true;
  dash.publish({ name: 'SourcePaused', text: 'source B paused: buffer above 50 %', level: 'warn' });
  await sleep(2500);
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  await page.goto(dash.url);
  await page.getByTestId('sink-row').first().waitFor();
  await sleep(3000);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`screenshot written to ${out}`);
} finally {
  await browser.close();
  await dash.close();
  await world.stack.stop();
}

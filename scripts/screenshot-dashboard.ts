// Renders docs/dashboard.png from the real devnet: starts `bpe devnet` (anvil, Superfluid, BPE,
// the services and the agents), waits until the scenario has played its spike and a slash,
// screenshots the dashboard in Debian's chromium (playwright-core), then stops the devnet with
// Ctrl-C (SIGINT).
//   npx tsx scripts/screenshot-dashboard.ts [out.png]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.BPE_CHROMIUM ?? '/usr/bin/chromium';
const out = process.argv[2] ?? fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
if (!existsSync(CHROMIUM)) {
  console.error(`chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set BPE_CHROMIUM`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'bpe-screenshot-'));
const bin = fileURLToPath(new URL('../bin/bpe.js', import.meta.url));
const devnet = spawn(process.execPath, [bin, 'devnet', '--port', '0', '--scenario-seconds', '120', '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
devnet.stderr.on('data', (d) => { stderr += d; process.stderr.write(d); });
const exited = new Promise((resolve) => devnet.on('exit', resolve));
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  let url: string | undefined;
  for (let i = 0; i < 600 && !url; i++) {
    url = /dashboard: (http:\/\/\S+)/.exec(stderr)?.[1];
    if (!url) await new Promise((r) => setTimeout(r, 200));
  }
  if (!url) throw new Error('the devnet printed no dashboard address');
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  await page.goto(url);
  for (let i = 0; i < 400; i++) {
    if (/Slashed/.test(await page.locator('[data-testid="event-log"]').innerText())) break;
    await page.waitForTimeout(500);
  }
  await page.waitForTimeout(3000);
  await page.screenshot({ path: out, fullPage: true });
  console.error(`wrote ${out}`);
} finally {
  await browser.close();
  devnet.kill('SIGINT');
  await exited;
  rmSync(dir, { recursive: true, force: true });
}

// The dashboard server without a chain: the page, its assets (uPlot resolved from node_modules),
// no path traversal, /api/state while the RPC is down (a snapshot that names the error), the
// event stream, publish(); and the compiled package layout (dist/dashboard finds the assets).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEPLOYMENT_FILE_VERSION, type DeploymentFile } from '../../src/chain/bpe/deploymentFile.ts';
import { DEFAULT_PARAMS } from '../../src/chain/bpe/deploy.ts';
import { startDashboard, type Dashboard } from '../../src/dashboard/index.ts';

const A = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as const;
export const OFFLINE_DEPLOYMENT: DeploymentFile = {
  version: DEPLOYMENT_FILE_VERSION,
  chainId: 31337,
  rpcUrl: 'http://127.0.0.1:9', // discard port: nothing answers
  startBlock: 1n,
  superfluid: { host: A(1), gda: A(2), gdaV1Forwarder: A(3) },
  token: A(4),
  stakeToken: A(5),
  bpe: {
    stakeManager: A(10), capacityRegistry: A(11), backpressurePool: A(12), escrowBuffer: A(13),
    pipeline: A(14), pricingCurve: A(15), offchainAggregator: A(16), completionTracker: A(17), params: DEFAULT_PARAMS,
  },
  taskTypes: [],
};

describe('dashboard server', () => {
  let dash: Dashboard;
  before(async () => {
    dash = await startDashboard({ deployment: OFFLINE_DEPLOYMENT, pollMs: 50 });
  });
  after(async () => {
    await dash?.close();
  });

  it('serves the page and its assets', async () => {
    const page = await fetch(dash.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /text\/html/);
    const html = await page.text();
    for (const ref of ['/assets/vendor/uPlot.iife.min.js', '/assets/vendor/uPlot.min.css', '/assets/app.js', '/assets/style.css']) {
      assert.ok(html.includes(ref), ref);
      const res = await fetch(new URL(ref, dash.url));
      assert.equal(res.status, 200, ref);
      assert.ok((await res.arrayBuffer()).byteLength > 1000, `${ref} has content`);
    }
    assert.match((await (await fetch(new URL('/assets/vendor/uPlot.iife.min.js', dash.url))).text()), /uPlot/);
    for (const bad of ['/assets/..%2F..%2Fpackage.json', '/assets/.hidden', '/nope', '/assets/vendor/other.js']) {
      assert.equal((await fetch(new URL(bad, dash.url))).status, 404, bad);
    }
    assert.equal((await fetch(dash.url, { method: 'POST' })).status, 405);
  });

  it('answers /api/state with the error while the RPC is down', async () => {
    const res = await fetch(new URL('/api/state', dash.url));
    assert.equal(res.status, 200);
    const s = (await res.json()) as { error: string | null; chainId: number; taskTypes: unknown[]; contracts: Record<string, string> };
    assert.ok(s.error && s.error.length > 0, 'error named');
    assert.equal(s.chainId, 31337);
    assert.deepEqual(s.taskTypes, []);
    assert.equal(s.contracts.escrowBuffer, A(13));
  });

  it('streams snapshots and published entries over server-sent events', async () => {
    const ctrl = new AbortController();
    const res = await fetch(new URL('/api/events', dash.url), { signal: ctrl.signal });
    assert.match(res.headers.get('content-type')!, /text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let published = false;
    for (let i = 0; i < 200 && !(text.includes('event: snapshot') && text.includes('"name":"Hello"')); i++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
      if (!published && text.includes('event: snapshot')) {
        dash.publish({ name: 'Hello', text: 'from the test' });
        published = true;
      }
    }
    ctrl.abort();
    assert.match(text, /event: snapshot\ndata: \{/);
    assert.match(text, /event: log\ndata: \{[^\n]*"origin":"app"[^\n]*"name":"Hello"/);
  });
});

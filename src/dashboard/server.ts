/**
 * The dashboard's HTTP server (node:http): `GET /` the page, `GET /assets/...` its script and
 * styles (uPlot from node_modules under /assets/vendor/, so the page works offline), `GET
 * /api/state` the latest snapshot as JSON, `GET /api/events` server-sent events: `snapshot` after
 * every poll (~1 s) and `log` for every new event-log entry (chain events and `publish()`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createPublicClient, defineChain, http, type PublicClient } from 'viem';
import type { DeploymentFile } from '../chain/bpe/deploymentFile.ts';
import { DashboardState, toJson, type DashboardExtra, type EventEntry, type Snapshot } from './state.ts';

export interface DashboardOptions {
  deployment: DeploymentFile;
  /** Read-only access is all it needs; default: a client for `deployment.rpcUrl`. A `BpeContext`
   * or `ChainClients` fits (`{ clients: { publicClient } }` or `{ publicClient }`). */
  clients?: { publicClient: PublicClient } | { clients: { publicClient: PublicClient } };
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** How often to read the chain (default 1000 ms). */
  pollMs?: number;
  /** Snapshot additions from the host process (the devnet: sources' paused state, ...). */
  extra?: () => DashboardExtra | Promise<DashboardExtra>;
  /** Serve this poller instead of making one (the devnet shares it with its summary). */
  state?: DashboardState;
}

export interface PublishedEvent {
  name: string;
  text?: string;
  level?: EventEntry['level'];
  taskTypeId?: `0x${string}`;
  data?: Record<string, unknown>;
}

export interface Dashboard {
  url: string;
  state: DashboardState;
  /** Adds an entry to the event log (shown live). */
  publish(event: PublishedEvent): EventEntry;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** The page's own files: next to this module in a checkout (src/dashboard/assets); the compiled
 * package (dist/dashboard/) ships them at src/dashboard/assets too (package.json "files"). */
function assetsDir(): string {
  const candidates = [new URL('./assets/', import.meta.url), new URL('../../src/dashboard/assets/', import.meta.url)];
  for (const c of candidates) {
    const path = fileURLToPath(c);
    if (existsSync(`${path}index.html`)) return path;
  }
  throw new Error(`dashboard assets not found (looked in ${candidates.map((c) => fileURLToPath(c)).join(', ')})`);
}

function vendorFiles(): Record<string, string> {
  const require = createRequire(import.meta.url);
  return {
    'vendor/uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
    'vendor/uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
  };
}

function publicClientFor(d: DeploymentFile): PublicClient {
  const chain = defineChain({
    id: d.chainId, name: `chain ${d.chainId}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [d.rpcUrl] } },
  });
  // Batching turns a poll's few dozen eth_calls into a handful of HTTP requests to a remote RPC.
  return createPublicClient({ chain, transport: http(d.rpcUrl, { batch: true }) }) as PublicClient;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const dir = assetsDir();
  const vendor = vendorFiles();
  const c = opts.clients;
  const publicClient = !c ? publicClientFor(opts.deployment) : 'publicClient' in c ? c.publicClient : c.clients.publicClient;
  const state = opts.state ?? new DashboardState({ deployment: opts.deployment, publicClient, extra: opts.extra });
  const streams = new Set<ServerResponse>();

  const sse = (event: string, data: string) => {
    const frame = `event: ${event}\ndata: ${data}\n\n`;
    for (const res of streams) res.write(frame);
  };
  // Snapshots over SSE carry only the newest history sample and the newest events; the page
  // starts from /api/state and appends.
  const slim = (s: Snapshot) => toJson({ ...s, history: s.history.slice(-1), events: s.events.slice(-20) });
  state.onSnapshot((s) => sse('snapshot', slim(s)));
  state.onEvent((e) => sse('log', toJson(e)));

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const path = url.pathname;
    if (path === '/' || path === '/index.html') return file(res, `${dir}index.html`);
    if (path === '/api/state') {
      (state.snapshot ? Promise.resolve(state.snapshot) : state.poll()).then(
        (s) => send(res, 200, toJson(s), 'application/json'),
        (err) => send(res, 503, toJson({ error: String((err as Error).message) }), 'application/json'),
      );
      return;
    }
    if (path === '/api/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      if (state.snapshot) res.write(`event: snapshot\ndata: ${slim(state.snapshot)}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      if (vendor[name]) return file(res, vendor[name]);
      // Only plain file names of our own folder: no traversal.
      if (/^[\w.-]+$/.test(name) && !name.startsWith('.')) return file(res, `${dir}${name}`);
    }
    send(res, 404, 'not found', 'text/plain; charset=utf-8');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  state.start(opts.pollMs ?? 1000);
  const keepAlive = setInterval(() => {
    for (const res of streams) res.write(': ping\n\n');
  }, 15_000);

  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}/`,
    state,
    publish: (e) => state.publish(e),
    close: async () => {
      clearInterval(keepAlive);
      await state.stop();
      for (const res of streams) res.end();
      streams.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function file(res: ServerResponse, path: string): void {
  let body: Buffer;
  try {
    body = readFileSync(path);
  } catch {
    send(res, 404, 'not found', 'text/plain; charset=utf-8');
    return;
  }
  const ext = path.slice(path.lastIndexOf('.'));
  res.writeHead(200, { 'content-type': MIME[ext] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
  res.end(body);
}

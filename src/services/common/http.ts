/**
 * The HTTP face every service shares (node:http, no framework: the oracle's hot path is one JSON
 * POST): JSON routes, a body size limit, `/health` and Prometheus `/metrics`. A handler rejects bad
 * input by throwing `HttpError`; the client gets its status and a one-line reason as
 * `{"error": "..."}`, and nothing else happens.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { Registry } from 'prom-client';
import type { Logger } from './log.ts';

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** Receives the parsed JSON body (POST) and returns a JSON-serialisable reply (200). */
  handle(body: unknown, req: IncomingMessage): Promise<unknown> | unknown;
}

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

export interface HttpServiceOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  maxBodyBytes?: number;
  routes: Route[];
  health: () => Promise<Health> | Health;
  metrics: Registry;
  log: Logger;
}

export interface HttpService {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

/** JSON replies: bigints as decimal strings (amounts must not lose precision in a double). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBytes) return reject(new HttpError(413, `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`));
    const decoder = new StringDecoder('utf8');
    let text = '';
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpError(413, `body exceeds the ${maxBytes}-byte limit`));
        req.destroy();
        return;
      }
      text += decoder.write(chunk);
    });
    req.on('end', () => resolve(text + decoder.end()));
    req.on('error', reject);
  });
}

export async function startHttpService(opts: HttpServiceOptions): Promise<HttpService> {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const routes = new Map(opts.routes.map((r) => [`${r.method} ${r.path}`, r]));

  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      try {
        if (req.method === 'GET' && path === '/health') {
          const health = await opts.health();
          return send(res, health.ok ? 200 : 503, toJson(health));
        }
        if (req.method === 'GET' && path === '/metrics') {
          return send(res, 200, await opts.metrics.metrics(), opts.metrics.contentType);
        }
        const route = routes.get(`${req.method} ${path}`);
        if (!route) {
          const allowed = opts.routes.filter((r) => r.path === path).map((r) => r.method);
          if (allowed.length) throw new HttpError(405, `${req.method} not allowed on ${path} (use ${allowed.join(', ')})`);
          throw new HttpError(404, `no route ${req.method} ${path}`);
        }
        let body: unknown;
        if (req.method === 'POST') {
          const type = req.headers['content-type'] ?? '';
          if (!type.startsWith('application/json')) throw new HttpError(415, 'content-type must be application/json');
          const raw = await readBody(req, maxBody);
          try {
            body = JSON.parse(raw);
          } catch {
            throw new HttpError(400, 'body is not valid JSON');
          }
        }
        send(res, 200, toJson(await route.handle(body, req)));
      } catch (err) {
        if (err instanceof HttpError) return send(res, err.status, toJson({ error: err.message }));
        opts.log.error({ err, path }, 'request failed');
        send(res, 500, toJson({ error: 'internal error' }));
      }
    })();
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

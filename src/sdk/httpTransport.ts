/**
 * Tasks over HTTP: `serveSinkAgent` puts a `SinkAgent` (anything with its `submit`) behind one JSON
 * route, and `HttpTransport` is the source's side, a `TaskTransport` for `SourceAgent`.
 *
 *   POST {sinkUrl}/v1/tasks
 *   {"request": {taskId, taskTypeId, sink, source, deadline: "<dec>"}, "sourceSignature": "0x..", "payload": <JSON>}
 *   → 200 {"result": <JSON>}
 *   → 409 {"error": "...", "reason": "<RefusalReason>"}   the sink refused the request
 *   → 422 {"error": "..."}                                  the worker failed
 *   → 400 {"error": "..."}                                  malformed body
 *
 * Payloads and results travel as JSON (bigints inside become decimal strings). On the source's side
 * a 409 becomes a `RequestRefusedError` and an unreachable sink a `SinkUnreachableError` (both
 * `TaskRejectedError`s: a `SourceAgent` tries another sink); a 422 or other failure a
 * `RemoteTaskError` (the task failed).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { getAddress, isAddress, isHex, type Address, type Hex } from 'viem';
import type { TaskRequest } from '../chain/bpe/verification.ts';
import { RequestRefusedError, type RefusalReason } from './sinkAgent.ts';
import { toJsonBody } from './serviceClient.ts';
import { TaskRejectedError } from './taskQueue.ts';
import { SinkUnreachableError, type SinkEndpoint, type TaskTransport } from './transport.ts';

export const TASKS_PATH = '/v1/tasks';
const MAX_BODY_BYTES = 1 << 20;

/** The sink answered, but the task failed (the worker threw, or an unexpected status). */
export class RemoteTaskError extends Error {
  constructor(readonly sink: Address, readonly status: number, message: string) {
    super(`sink ${sink} (HTTP ${status}): ${message}`);
    this.name = 'RemoteTaskError';
  }
}

export interface HttpTransportOptions {
  /** The base URL of each sink's server; undefined for a sink without one. A Map or a function. */
  urls: ReadonlyMap<Address, string> | ((sink: Address) => string | undefined);
  /** Per-task timeout in ms (the work included). Default 600 000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class HttpTransport<P = unknown, R = unknown> implements TaskTransport<P, R> {
  readonly timeoutMs: number;
  readonly #urlOf: (sink: Address) => string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: HttpTransportOptions) {
    const { urls, timeoutMs = 600_000 } = options;
    if (typeof urls === 'function') {
      this.#urlOf = urls;
    } else {
      const byAddress = new Map([...urls].map(([a, u]) => [getAddress(a), u] as const));
      this.#urlOf = (sink) => byAddress.get(getAddress(sink));
    }
    this.timeoutMs = timeoutMs;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async deliver(sink: Address, request: TaskRequest, sourceSignature: Hex, payload: P): Promise<R> {
    const base = this.#urlOf(sink);
    if (!base) throw new SinkUnreachableError(sink, request.taskId);
    let res: Response;
    try {
      res = await this.#fetch(`${base.replace(/\/+$/, '')}${TASKS_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: toJsonBody({ request, sourceSignature, payload }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch {
      // Never reached the sink, or no answer in time: from the source's side, refused.
      throw new SinkUnreachableError(sink, request.taskId);
    }
    const text = await res.text();
    let body: { result?: R; error?: unknown; reason?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RemoteTaskError(sink, res.status, `reply is not JSON: ${text.slice(0, 200)}`);
    }
    if (res.ok) return body.result as R;
    const message = typeof body.error === 'string' ? body.error : res.statusText;
    if (res.status === 409) {
      throw new RequestRefusedError((typeof body.reason === 'string' ? body.reason : 'queue-full') as RefusalReason, request.taskId, message);
    }
    throw new RemoteTaskError(sink, res.status, message);
  }
}

export interface SinkServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Serves `sink.submit` on `POST /v1/tasks` (see the module comment). Port 0 picks a free one. */
export async function serveSinkAgent<P, R>(
  sink: SinkEndpoint<P, R>,
  { port = 0, host = '127.0.0.1' }: { port?: number; host?: string } = {},
): Promise<SinkServer> {
  const server = createServer((req, res) => void handle(sink, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle<P, R>(sink: SinkEndpoint<P, R>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const reply = (status: number, value: unknown) => {
    const text = toJsonBody(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  try {
    if (req.method !== 'POST' || req.url !== TASKS_PATH) return reply(404, { error: `no route ${req.method} ${req.url}` });
    const text = await readBody(req);
    let parsed: { request: TaskRequest; sourceSignature: Hex; payload: P };
    try {
      parsed = parseTask(JSON.parse(text));
    } catch (err) {
      return reply(400, { error: err instanceof Error ? err.message : String(err) });
    }
    let result: R;
    try {
      result = await sink.submit(parsed.request, parsed.sourceSignature, parsed.payload);
    } catch (err) {
      if (err instanceof RequestRefusedError) return reply(409, { error: err.message, reason: err.reason });
      if (err instanceof TaskRejectedError) return reply(409, { error: err.message, reason: 'queue-full' });
      return reply(422, { error: err instanceof Error ? err.message : String(err) });
    }
    reply(200, { result });
  } catch (err) {
    if (!res.headersSent) reply(500, { error: err instanceof Error ? err.message : String(err) });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let size = 0;
    let text = '';
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body exceeds ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      text += decoder.write(c);
    });
    req.on('end', () => resolve(text + decoder.end()));
    req.on('error', reject);
  });
}

function parseTask(body: unknown): { request: TaskRequest; sourceSignature: Hex; payload: never } {
  const { request: r, sourceSignature, payload } = (body ?? {}) as Record<string, unknown>;
  const req = (r ?? {}) as Record<string, unknown>;
  const hex32 = (name: string) => {
    const v = req[name];
    if (typeof v !== 'string' || !isHex(v) || v.length !== 66) throw new Error(`request.${name} must be 32 bytes of hex`);
    return v;
  };
  const address = (name: string) => {
    const v = req[name];
    if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw new Error(`request.${name} must be an address`);
    return getAddress(v);
  };
  const [taskId, taskTypeId, sink, source] = [hex32('taskId'), hex32('taskTypeId'), address('sink'), address('source')];
  if (typeof req.deadline !== 'string' || !/^\d{1,20}$/.test(req.deadline)) throw new Error('request.deadline must be a decimal string');
  if (typeof sourceSignature !== 'string' || !isHex(sourceSignature)) throw new Error('sourceSignature must be hex');
  const request: TaskRequest = { taskId, taskTypeId, sink, source, deadline: BigInt(req.deadline) };
  return { request, sourceSignature, payload: payload as never };
}

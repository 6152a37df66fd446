/**
 * What the oracle and verifier clients share: one JSON POST with typed failures and retries.
 *
 * - 2xx: the parsed JSON body. Not JSON: `ServiceResponseError`.
 * - 408, 429, 5xx, a refused or dropped connection, a timeout: transient. Retried with exponential
 *   backoff and full jitter (`Backoff` of the services; a `Retry-After` in seconds is honoured, up
 *   to the backoff's maximum), then `ServiceUnavailableError` with the last status and reason.
 * - Any other 4xx: `ServiceRejectedError` at once, with the server's `{"error": "..."}` reason.
 *
 * Retrying a POST is safe for these services: a batch item seen twice is answered `duplicate`.
 * Bigints in the body are written as decimal strings (a JSON number would lose precision).
 */
import { Backoff, sleep, type BackoffOptions } from '../services/common/backoff.ts';
import { ServiceRejectedError, ServiceResponseError, ServiceUnavailableError } from './errors.ts';

export interface ServiceClientOptions {
  /** Base URL of the service, e.g. `http://localhost:8545`; a trailing slash is ignored. */
  url: string;
  /** Requests after the first one for a transient failure. Default 4. */
  retries?: number;
  /** Backoff between attempts. Default: 200 ms doubling, at most 5 s. */
  backoff?: BackoffOptions;
  /** Per-attempt timeout in ms. Default 10 000. */
  timeoutMs?: number;
  /** Extra headers (an API key, ...). */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface CallOptions {
  /** Aborts the call (and any wait between retries): the promise rejects with the abort reason. */
  signal?: AbortSignal;
}

/** The reply to one batch item. */
export interface ItemResult {
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: string;
}

/** JSON with bigints as decimal strings. */
export function toJsonBody(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const TRANSIENT_STATUS = new Set([408, 429]);

export class ServiceClient {
  readonly url: string;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly #backoff: BackoffOptions;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;

  constructor(
    /** Names the service in error messages ("oracle", "verifier"). */
    readonly service: string,
    options: ServiceClientOptions,
  ) {
    const { url, retries = 4, backoff = { initialMs: 200, maxMs: 5000 }, timeoutMs = 10_000, headers = {} } = options;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`${service} url is not a URL: ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`${service} url must be http(s), got ${url}`);
    if (!Number.isSafeInteger(retries) || retries < 0) throw new RangeError(`retries must be an integer >= 0, got ${retries}`);
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
    this.url = url.replace(/\/+$/, '');
    this.retries = retries;
    this.timeoutMs = timeoutMs;
    this.#backoff = backoff;
    this.#headers = headers;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** POSTs `body` as JSON to `path`; returns the parsed 2xx reply (see the module comment). */
  async post(path: string, body: unknown, { signal }: CallOptions = {}): Promise<unknown> {
    const url = `${this.url}${path}`;
    const text = toJsonBody(body);
    const backoff = new Backoff(this.#backoff);
    let attempts = 0;
    for (;;) {
      signal?.throwIfAborted();
      attempts++;
      let failure: { status?: number; reason: string; cause?: unknown; waitMs?: number };
      const attempt = linkedSignal(AbortSignal.timeout(this.timeoutMs), signal);
      try {
        const res = await this.#fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...this.#headers },
          body: text,
          signal: attempt.signal,
        });
        const replyText = await res.text();
        if (res.ok) {
          try {
            return JSON.parse(replyText) as unknown;
          } catch {
            throw new ServiceResponseError(this.service, url, attempts, res.status, `not JSON: ${snippet(replyText)}`);
          }
        }
        const reason = errorReason(replyText, res.statusText);
        if (res.status < 500 && !TRANSIENT_STATUS.has(res.status)) {
          throw new ServiceRejectedError(this.service, url, attempts, res.status, reason);
        }
        failure = { status: res.status, reason, waitMs: retryAfterMs(res.headers.get('retry-after')) };
      } catch (err) {
        if (err instanceof ServiceRejectedError || err instanceof ServiceResponseError) throw err;
        if (signal?.aborted) throw signal.reason;
        failure = { reason: networkReason(err, this.timeoutMs), cause: err };
      } finally {
        attempt.release();
      }
      if (attempts > this.retries) {
        throw new ServiceUnavailableError(this.service, url, attempts, failure.status, failure.reason, { cause: failure.cause });
      }
      const wait = backoff.next();
      const maxMs = this.#backoff.maxMs ?? 10_000;
      await sleep(failure.waitMs === undefined ? wait : Math.min(Math.max(wait, failure.waitMs), maxMs), signal);
    }
  }

  /**
   * POSTs a batch and checks the reply is `{"results": [...]}` with one well-formed result per item,
   * in order.
   */
  async postBatch(path: string, body: unknown, items: number, options?: CallOptions): Promise<ItemResult[]> {
    const reply = await this.post(path, body, options);
    const url = `${this.url}${path}`;
    const bad = (why: string) => new ServiceResponseError(this.service, url, 1, 200, why);
    const results = (reply as { results?: unknown } | null)?.results;
    if (!Array.isArray(results)) throw bad(`no "results" array in ${snippet(JSON.stringify(reply))}`);
    if (results.length !== items) throw bad(`${results.length} results for ${items} items`);
    return results.map((r: unknown, i) => {
      const { status, reason } = (r ?? {}) as { status?: unknown; reason?: unknown };
      if (status !== 'accepted' && status !== 'duplicate' && status !== 'rejected') throw bad(`result ${i} has status ${JSON.stringify(status)}`);
      if (reason !== undefined && typeof reason !== 'string') throw bad(`result ${i} has a non-string reason`);
      return reason === undefined ? { status } : { status, reason };
    });
  }
}

/** The attempt's signal: aborts on its timeout or when the caller's signal does (AbortSignal.any,
 * which Node 20's types lack). `release` detaches it from the caller's signal. */
function linkedSignal(timeout: AbortSignal, outer: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
  if (!outer) return { signal: timeout, release: () => undefined };
  const controller = new AbortController();
  const onTimeout = () => controller.abort(timeout.reason);
  const onOuter = () => controller.abort(outer.reason);
  if (outer.aborted) onOuter();
  else {
    timeout.addEventListener('abort', onTimeout, { once: true });
    outer.addEventListener('abort', onOuter, { once: true });
  }
  return {
    signal: controller.signal,
    release: () => {
      timeout.removeEventListener('abort', onTimeout);
      outer.removeEventListener('abort', onOuter);
    },
  };
}

function snippet(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The server's `{"error": "..."}`, else the body's first 200 characters, else the status text. */
function errorReason(text: string, statusText: string): string {
  try {
    const { error } = JSON.parse(text) as { error?: unknown };
    if (typeof error === 'string' && error) return error;
  } catch {
    // not JSON: fall through
  }
  return text.trim() ? snippet(text.trim()) : statusText || 'no reason given';
}

/** A readable reason for fetch's network failures (undici hides the code in `cause`). */
function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no reply within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

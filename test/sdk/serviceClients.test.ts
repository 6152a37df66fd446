// OracleClient and VerifierClient against tiny real HTTP servers (node:http) standing in for the
// oracle and verifier services: the request each sends, typed errors with the server's reason,
// retries of transient failures. No chain is needed.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Hex } from 'viem';
import {
  BpeError,
  OracleClient,
  ServiceRejectedError,
  ServiceResponseError,
  ServiceUnavailableError,
  VerifierClient,
  type CompletionReceipt,
  type SignedAttestation,
} from '../../src/index.ts';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: unknown;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: unknown, n: number) => void;

const servers: Server[] = [];
after(async () => {
  // closeAllConnections: fetch keeps connections alive, and close() alone would wait them out.
  await Promise.all(servers.map((s) => new Promise((resolve) => {
    s.close(resolve);
    s.closeAllConnections();
  })));
});

/** A server that records every request and answers with `handler` (n counts from 1). */
async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const body = text ? JSON.parse(text) : undefined;
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      handler(req, res, body, seen.length);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen };
}

const json = (res: ServerResponse, status: number, value: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const fast = { retries: 3, backoff: { initialMs: 1, maxMs: 4 } };

const attestation: SignedAttestation = {
  taskTypeId: `0x${'11'.repeat(32)}`,
  sink: '0x1111111111111111111111111111111111111111',
  capacity: 2n ** 60n + 1n, // beyond a double's exact integers: must travel as a string
  backlog: 7n,
  nonce: 3,
  timestamp: 1_790_000_000n,
  r: `0x${'aa'.repeat(32)}`,
  vs: `0x${'bb'.repeat(32)}`,
};

const receipt: CompletionReceipt = {
  taskId: `0x${'22'.repeat(32)}`,
  taskTypeId: `0x${'33'.repeat(32)}`,
  sink: '0x2222222222222222222222222222222222222222',
  source: '0x3333333333333333333333333333333333333333',
  completedAt: 1_790_000_100n,
  deadline: 18_446_744_073_709_551_615n, // uint64 max
};
const sinkSignature: Hex = `0x${'cc'.repeat(65)}`;
const sourceSignature: Hex = `0x${'dd'.repeat(65)}`;

describe('OracleClient', () => {
  it('posts {attestations} to /v1/attestations with bigints as decimal strings and returns the results in order', async () => {
    const { url, seen } = await serve((_req, res, body) => {
      const n = (body as { attestations: unknown[] }).attestations.length;
      json(res, 200, { results: Array.from({ length: n }, (_, i) => (i === 0 ? { status: 'accepted' } : { status: 'rejected', reason: 'stale' })) });
    });
    const client = new OracleClient({ url, ...fast });
    const results = await client.submit([attestation, { ...attestation, nonce: 4 }]);
    assert.deepEqual(results, [{ status: 'accepted' }, { status: 'rejected', reason: 'stale' }]);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.url, '/v1/attestations', 'the trailing slash of the base URL is not doubled');
    assert.equal(seen[0]!.contentType, 'application/json');
    assert.deepEqual(seen[0]!.body, {
      attestations: [
        {
          taskTypeId: attestation.taskTypeId, sink: attestation.sink, capacity: '1152921504606846977', backlog: '7', nonce: 3,
          timestamp: '1790000000', r: attestation.r, vs: attestation.vs,
        },
        {
          taskTypeId: attestation.taskTypeId, sink: attestation.sink, capacity: '1152921504606846977', backlog: '7', nonce: 4,
          timestamp: '1790000000', r: attestation.r, vs: attestation.vs,
        },
      ],
    });
    assert.deepEqual(await client.submit([]), [], 'an empty batch is not sent');
    assert.equal(seen.length, 1);
  });

  it('a 4xx becomes ServiceRejectedError with the status and the server\'s reason, not retried', async () => {
    const { url, seen } = await serve((_req, res) => json(res, 400, { error: 'attestations[0].capacity: not a decimal string' }));
    const err = await new OracleClient({ url, ...fast }).submit([attestation]).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ServiceRejectedError, String(err));
    assert.ok(err instanceof BpeError);
    assert.equal(err.code, 'ServiceRejected');
    assert.equal(err.service, 'oracle');
    assert.equal(err.status, 400);
    assert.equal(err.reason, 'attestations[0].capacity: not a decimal string');
    assert.equal(err.attempts, 1);
    assert.equal(err.message, 'oracle refused the request (HTTP 400): attestations[0].capacity: not a decimal string');
    assert.equal(seen.length, 1, 'a refusal is not retried');
  });

  it('503 twice, then 200: retried with backoff, the results of the third attempt come back', async () => {
    const { url, seen } = await serve((_req, res, _body, n) => {
      if (n <= 2) return json(res, 503, { error: 'relayer busy' });
      json(res, 200, { results: [{ status: 'duplicate' }] });
    });
    assert.deepEqual(await new OracleClient({ url, ...fast }).submit([attestation]), [{ status: 'duplicate' }]);
    assert.equal(seen.length, 3);
    assert.deepEqual(seen[0]!.body, seen[2]!.body, 'the same body each time');
  });

  it('503 on every attempt: ServiceUnavailableError after 1 + retries attempts, with the last status and reason', async () => {
    const { url, seen } = await serve((_req, res) => json(res, 503, { error: 'relayer busy' }));
    const err = await new OracleClient({ url, ...fast }).submit([attestation]).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ServiceUnavailableError, String(err));
    assert.equal(err.status, 503);
    assert.equal(err.reason, 'relayer busy');
    assert.equal(err.attempts, 4);
    assert.equal(seen.length, 4);
    assert.match(err.message, /oracle at http:\/\/127\.0\.0\.1:\d+\/v1\/attestations unavailable after 4 attempts: relayer busy/);
  });

  it('a reply that is not {results} with one result per item: ServiceResponseError', async () => {
    const { url } = await serve((_req, res, _body, n) => {
      if (n === 1) return json(res, 200, { ok: true });
      if (n === 2) return json(res, 200, { results: [] });
      if (n === 3) return json(res, 200, { results: [{ status: 'maybe' }] });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello');
    });
    const client = new OracleClient({ url, ...fast });
    await assert.rejects(client.submit([attestation]), (e: unknown) => e instanceof ServiceResponseError && /no "results" array/.test(e.message));
    await assert.rejects(client.submit([attestation]), (e: unknown) => e instanceof ServiceResponseError && /0 results for 1 items/.test(e.message));
    await assert.rejects(client.submit([attestation]), (e: unknown) => e instanceof ServiceResponseError && /status "maybe"/.test(e.message));
    await assert.rejects(client.submit([attestation]), (e: unknown) => e instanceof ServiceResponseError && /not JSON: hello/.test(e.message));
  });

  it('the caller\'s AbortSignal cancels a call in flight: it rejects with the abort reason, no retry', async () => {
    const { url, seen } = await serve(() => {
      // never answers
    });
    const client = new OracleClient({ url, ...fast });
    const controller = new AbortController();
    const call = client.submit([attestation], { signal: controller.signal });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('sink stopping'));
    await assert.rejects(call, /sink stopping/);
    assert.equal(seen.length, 1);
  });

  it('rejects a URL that is not http(s)', () => {
    assert.throws(() => new OracleClient('ftp://example.org'), /must be http\(s\)/);
    assert.throws(() => new OracleClient('not a url'), /not a URL/);
  });
});

describe('VerifierClient', () => {
  it('posts {receipts} to /v1/receipts: each {receipt, sinkSignature, sourceSignature}, times as decimal strings', async () => {
    const { url, seen } = await serve((_req, res) => json(res, 200, { results: [{ status: 'accepted' }] }));
    const results = await new VerifierClient(url).submit([{ receipt, sinkSignature, sourceSignature }]);
    assert.deepEqual(results, [{ status: 'accepted' }]);
    assert.equal(seen[0]!.url, '/v1/receipts');
    assert.deepEqual(seen[0]!.body, {
      receipts: [
        {
          receipt: {
            taskId: receipt.taskId, taskTypeId: receipt.taskTypeId, sink: receipt.sink, source: receipt.source,
            completedAt: '1790000100', deadline: '18446744073709551615',
          },
          sinkSignature,
          sourceSignature,
        },
      ],
    });
  });

  it('a 409 with a reason: ServiceRejectedError naming the verifier and the reason', async () => {
    const { url } = await serve((_req, res) => json(res, 409, { error: 'receipt for an unregistered sink' }));
    const err = await new VerifierClient({ url, ...fast }).submit([{ receipt, sinkSignature, sourceSignature }]).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ServiceRejectedError, String(err));
    assert.equal(err.service, 'verifier');
    assert.equal(err.status, 409);
    assert.equal(err.reason, 'receipt for an unregistered sink');
  });

  it('connection refused, then the verifier comes up on that port: retried until it answers', async () => {
    const port = await closedPort();
    // The real fetch, instrumented: counts the refused attempts, and starts the server on the port
    // once the first one has been refused.
    let refused = 0;
    let served = 0;
    let started: Promise<void> | undefined;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        served++;
        json(res, 200, { results: [{ status: 'accepted' }] });
      });
    });
    servers.push(server);
    const counting: typeof fetch = async (input, init) => {
      try {
        return await fetch(input, init);
      } catch (err) {
        refused++;
        started ??= new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
        await started;
        throw err;
      }
    };
    const client = new VerifierClient({ url: `http://127.0.0.1:${port}`, retries: 3, backoff: { initialMs: 1, maxMs: 4 }, fetch: counting });
    assert.deepEqual(await client.submit([{ receipt, sinkSignature, sourceSignature }]), [{ status: 'accepted' }]);
    assert.equal(refused, 1);
    assert.equal(served, 1);
  });

  it('connection refused on every attempt: ServiceUnavailableError with the network reason and no status', async () => {
    const port = await closedPort();
    const err = await new VerifierClient({ url: `http://127.0.0.1:${port}`, ...fast })
      .submit([{ receipt, sinkSignature, sourceSignature }])
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ServiceUnavailableError, String(err));
    assert.equal(err.status, undefined);
    assert.equal(err.attempts, 4);
    assert.match(err.reason, /ECONNREFUSED/);
  });
});

/**
 * Client of the capacity oracle: hands it signed capacity attestations, which it validates,
 * persists and relays on chain in batches (`OffchainAggregator.submitAttestations`).
 *
 *   POST {url}/v1/attestations
 *   {"attestations": [{taskTypeId, sink, capacity: "<dec>", backlog: "<dec>", nonce: <number>,
 *                      timestamp: "<dec unix s>", r, vs}]}
 *   → 200 {"results": [{"status": "accepted" | "duplicate" | "rejected", "reason"?: "..."}]}
 *   → 4xx {"error": "..."}
 *
 * One result per attestation, in order. Failures are typed (`ServiceRejectedError` for a 4xx with
 * the oracle's reason, `ServiceUnavailableError` once retries are spent, `ServiceResponseError` for
 * a malformed reply); transient ones are retried with backoff (see `ServiceClient`).
 */
import type { SignedAttestation } from '../chain/bpe/verification.ts';
import { ServiceClient, type CallOptions, type ItemResult, type ServiceClientOptions } from './serviceClient.ts';

export type OracleClientOptions = ServiceClientOptions;

/** An attestation as the oracle receives it: bigints as decimal strings. */
export interface AttestationJson {
  taskTypeId: string;
  sink: string;
  capacity: string;
  backlog: string;
  nonce: number;
  timestamp: string;
  r: string;
  vs: string;
}

export function attestationToJson(a: SignedAttestation): AttestationJson {
  return {
    taskTypeId: a.taskTypeId,
    sink: a.sink,
    capacity: a.capacity.toString(),
    backlog: a.backlog.toString(),
    nonce: a.nonce,
    timestamp: a.timestamp.toString(),
    r: a.r,
    vs: a.vs,
  };
}

export class OracleClient {
  readonly http: ServiceClient;

  constructor(options: OracleClientOptions | string) {
    this.http = new ServiceClient('oracle', typeof options === 'string' ? { url: options } : options);
  }

  get url(): string {
    return this.http.url;
  }

  /** Posts signed attestations; one result per item, in order. An empty list sends nothing. */
  async submit(attestations: readonly SignedAttestation[], options?: CallOptions): Promise<ItemResult[]> {
    if (attestations.length === 0) return [];
    return this.http.postBatch('/v1/attestations', { attestations: attestations.map(attestationToJson) }, attestations.length, options);
  }
}

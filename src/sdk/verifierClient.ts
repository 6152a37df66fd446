/**
 * Client of the verifier: hands it dual-signed completion receipts (the source's signature of the
 * request, the sink's of the completion), which it checks and records on chain
 * (`CompletionTracker.recordCompletion`), advancing the sinks' evaluation epochs.
 *
 *   POST {url}/v1/receipts
 *   {"receipts": [{"receipt": {taskId, taskTypeId, sink, source, completedAt: "<dec>", deadline: "<dec>"},
 *                  "sinkSignature": "0x..", "sourceSignature": "0x.."}]}
 *   → 200 {"results": [{"status": "accepted" | "duplicate" | "rejected", "reason"?: "..."}]}
 *   → 4xx {"error": "..."}
 *
 * One result per receipt, in order; failures typed and transient ones retried as in `OracleClient`.
 */
import type { Hex } from 'viem';
import type { CompletionReceipt } from '../chain/bpe/verification.ts';
import { ServiceClient, type CallOptions, type ItemResult, type ServiceClientOptions } from './serviceClient.ts';

export type VerifierClientOptions = ServiceClientOptions;

/** A completion receipt with both signatures, as the sink hands it in. */
export interface SignedReceipt {
  receipt: CompletionReceipt;
  sinkSignature: Hex;
  sourceSignature: Hex;
}

export interface SignedReceiptJson {
  receipt: { taskId: string; taskTypeId: string; sink: string; source: string; completedAt: string; deadline: string };
  sinkSignature: string;
  sourceSignature: string;
}

export function receiptToJson({ receipt, sinkSignature, sourceSignature }: SignedReceipt): SignedReceiptJson {
  const { taskId, taskTypeId, sink, source, completedAt, deadline } = receipt;
  return {
    receipt: { taskId, taskTypeId, sink, source, completedAt: completedAt.toString(), deadline: deadline.toString() },
    sinkSignature,
    sourceSignature,
  };
}

export class VerifierClient {
  readonly http: ServiceClient;

  constructor(options: VerifierClientOptions | string) {
    this.http = new ServiceClient('verifier', typeof options === 'string' ? { url: options } : options);
  }

  get url(): string {
    return this.http.url;
  }

  /** Posts signed receipts; one result per item, in order. An empty list sends nothing. */
  async submit(receipts: readonly SignedReceipt[], options?: CallOptions): Promise<ItemResult[]> {
    if (receipts.length === 0) return [];
    return this.http.postBatch('/v1/receipts', { receipts: receipts.map(receiptToJson) }, receipts.length, options);
  }
}

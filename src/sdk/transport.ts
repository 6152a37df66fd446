/**
 * How a source's task reaches a sink: `deliver(sink, request, sourceSignature, payload)` resolves
 * with the sink's result. A refusal should reject with a `TaskRejectedError` (a `SourceAgent` then
 * tries another sink); anything else is a failed task.
 *
 * `InProcessTransport` maps sink addresses to objects with the `SinkAgent.submit` shape (tests,
 * demos, a source and its sinks in one process). Over a network, implement `TaskTransport` with
 * your own protocol; bigints of the request travel as decimal strings (see `receiptToJson`).
 */
import { getAddress, type Address, type Hex } from 'viem';
import type { TaskRequest } from '../chain/bpe/verification.ts';
import { TaskRejectedError } from './taskQueue.ts';

export interface TaskTransport<P = unknown, R = unknown> {
  deliver(sink: Address, request: TaskRequest, sourceSignature: Hex, payload: P): Promise<R>;
}

/** What an in-process sink offers: its address and `submit` (a `SinkAgent` fits). */
export interface SinkEndpoint<P = unknown, R = unknown> {
  readonly address: Address;
  submit(request: TaskRequest, sourceSignature: Hex, payload: P): Promise<R>;
}

/** No endpoint is known for the sink: a refusal, so the source can try another one. */
export class SinkUnreachableError extends TaskRejectedError {
  constructor(readonly sink: Address, taskId: string) {
    super(`task ${taskId} not delivered: no endpoint for sink ${sink}`, taskId);
  }
}

export class InProcessTransport<P = unknown, R = unknown> implements TaskTransport<P, R> {
  readonly #sinks = new Map<Address, SinkEndpoint<P, R>>();

  constructor(sinks: Iterable<SinkEndpoint<P, R>> = []) {
    for (const sink of sinks) this.add(sink);
  }

  add(sink: SinkEndpoint<P, R>): this {
    this.#sinks.set(getAddress(sink.address), sink);
    return this;
  }

  remove(address: Address): boolean {
    return this.#sinks.delete(getAddress(address));
  }

  async deliver(sink: Address, request: TaskRequest, sourceSignature: Hex, payload: P): Promise<R> {
    const endpoint = this.#sinks.get(getAddress(sink));
    if (!endpoint) throw new SinkUnreachableError(sink, request.taskId);
    return endpoint.submit(request, sourceSignature, payload);
  }
}

/**
 * The registry's custom errors as typed, readable errors. viem decodes a revert against the ABI
 * into a `ContractFunctionRevertedError` (error name + args) buried inside the error it throws;
 * `toBpeError` digs it out so callers can branch on `code` (or `instanceof`) and read the numbers
 * that matter (when an update is allowed, when a commitment expires) instead of a hex blob.
 */
import { BaseError, ContractFunctionRevertedError } from 'viem';

/** A BPE contract refused the call. `code` is the contract's error name; `args` its raw arguments. */
export class BpeError extends Error {
  constructor(
    readonly code: string,
    readonly args: readonly unknown[],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BpeError';
  }
}

/** The sink stepped its EWMA less than `minUpdateInterval` ago. Retry at `nextUpdateAt` (unix s). */
export class UpdateTooFrequentError extends BpeError {
  constructor(readonly nextUpdateAt: bigint, what: string, options?: { cause?: unknown }) {
    super('UpdateTooFrequent', [nextUpdateAt], `${what}: too soon after the last capacity update; allowed from unix time ${nextUpdateAt}`, options);
    this.name = 'UpdateTooFrequentError';
  }
}

/** A commitment is still pending (unrevealed, not expired): it cannot be replaced before then. */
export class CommitmentPendingError extends BpeError {
  constructor(readonly expiresAtBlock: bigint, what: string, options?: { cause?: unknown }) {
    super('CommitmentPending', [expiresAtBlock], `${what}: a commitment is pending until block ${expiresAtBlock}; reveal it or wait for it to expire`, options);
    this.name = 'CommitmentPendingError';
  }
}

/** The commitment is older than `commitTimeout` blocks: it can only be replaced, not revealed. */
export class CommitmentExpiredError extends BpeError {
  constructor(readonly expiredAtBlock: bigint, what: string, options?: { cause?: unknown }) {
    super('CommitmentExpired', [expiredAtBlock], `${what}: the commitment expired at block ${expiredAtBlock}; commit again`, options);
    this.name = 'CommitmentExpiredError';
  }
}

/** Readable text for the registry's other errors, by name (arguments appended where useful). */
const MESSAGES: Record<string, (args: readonly unknown[]) => string> = {
  NotRegistered: ([taskTypeId, sink]) => `sink ${String(sink)} is not registered for task type ${String(taskTypeId)}`,
  UnknownTaskType: ([taskTypeId]) => `unknown task type ${String(taskTypeId)}`,
  NoCommitment: () => 'no commitment to reveal',
  RevealTooEarly: ([block]) => `reveal too early: revealable from block ${String(block)}`,
  CommitmentMismatch: () => 'the reveal does not match the commitment (capacity or nonce differ)',
  ZeroCommitment: () => 'the commitment hash is zero',
  ValueTooLarge: ([value]) => `value ${String(value)} exceeds the registry's 40-bit maximum`,
  InsufficientStake: ([stake, required]) => `stake ${String(stake)} is below the required ${String(required)}`,
};

/**
 * Returns a `BpeError` (or subclass) for a decoded custom-error revert anywhere in `err`'s cause
 * chain, prefixed with `what`; any other error (RPC failure, a panic without a name) is returned
 * unchanged so nothing is hidden.
 */
export function toBpeError(err: unknown, what: string): unknown {
  if (!(err instanceof BaseError)) return err;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError) || !reverted.data?.errorName) return err;
  const code = reverted.data.errorName;
  const args = reverted.data.args ?? [];
  const options = { cause: err };
  switch (code) {
    case 'UpdateTooFrequent': return new UpdateTooFrequentError(args[0] as bigint, what, options);
    case 'CommitmentPending': return new CommitmentPendingError(args[0] as bigint, what, options);
    case 'CommitmentExpired': return new CommitmentExpiredError(args[0] as bigint, what, options);
  }
  const text = MESSAGES[code]?.(args) ?? `${code}(${args.map(String).join(', ')})`;
  return new BpeError(code, args, `${what}: ${text}`, options);
}

// ---------------------------------------------------------------- BPE services over HTTP

/** A call to a BPE service (the capacity oracle, the verifier) failed. `service` names it, `url`
 * is the endpoint called, `attempts` how many requests were made. */
export class ServiceError extends BpeError {
  constructor(
    code: string,
    readonly service: string,
    readonly url: string,
    readonly attempts: number,
    readonly status: number | undefined,
    /** The server's own reason (`{"error": "..."}`), or what went wrong on the way. */
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, [status, reason], message, options);
    this.name = new.target.name;
  }
}

/** The service refused the request (a 4xx other than 408/429): retrying the same body would not
 * help. `status` and the server's `reason` are kept. */
export class ServiceRejectedError extends ServiceError {
  constructor(service: string, url: string, attempts: number, status: number, reason: string) {
    super('ServiceRejected', service, url, attempts, status, reason, `${service} refused the request (HTTP ${status}): ${reason}`);
  }
}

/** The service could not be reached or kept failing (connection refused, timeout, 5xx, 408, 429)
 * after every retry. `status` is the last HTTP status, undefined when no reply came. */
export class ServiceUnavailableError extends ServiceError {
  constructor(service: string, url: string, attempts: number, status: number | undefined, reason: string, options?: { cause?: unknown }) {
    super(
      'ServiceUnavailable', service, url, attempts, status, reason,
      `${service} at ${url} unavailable after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`, options,
    );
  }
}

/** The service answered 2xx with something other than the documented reply. */
export class ServiceResponseError extends ServiceError {
  constructor(service: string, url: string, attempts: number, status: number, reason: string) {
    super('ServiceBadResponse', service, url, attempts, status, reason, `${service} sent an unexpected reply (HTTP ${status}): ${reason}`);
  }
}

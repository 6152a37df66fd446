/**
 * Telling a contract's refusal (a revert, decoded to its custom error where the ABI knows it)
 * apart from a failure to reach the chain (RPC down, timeout, node restarting). Services retry the
 * second kind with backoff and decide about the first kind by the error's name.
 */
import { BaseError, ContractFunctionRevertedError } from 'viem';

export interface Revert {
  /** The custom error's name (`EpochNotOver`), or `revert` when it could not be decoded. */
  name: string;
  args: readonly unknown[];
  message: string;
}

/** The decoded revert inside `err`, or undefined when `err` is not a contract refusal. */
export function revertOf(err: unknown): Revert | undefined {
  if (err instanceof BaseError) {
    const r = err.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
    if (r) {
      const name = r.data?.errorName ?? (r.reason ? 'Error' : 'revert');
      return { name, args: r.data?.args ?? (r.reason ? [r.reason] : []), message: r.shortMessage };
    }
    const text = `${err.shortMessage} ${err.details ?? ''}`;
    if (/execution reverted|reverted/i.test(text) && !/fetch failed|ECONNREFUSED|timed? ?out/i.test(text)) {
      return { name: 'revert', args: [], message: err.shortMessage };
    }
    return undefined;
  }
  // actions.write() throws a plain Error when a mined transaction reverted.
  if (err instanceof Error && / reverted \(tx 0x/.test(err.message)) return { name: 'revert', args: [], message: err.message };
  return undefined;
}

/** One-line description of a revert for logs and API replies: `Name(arg, arg)`. */
export function describeRevert(r: Revert): string {
  const args = r.args.map((a) => (typeof a === 'bigint' ? a.toString() : String(a))).join(', ');
  return `${r.name}(${args})`;
}

/** Short text of any error, for logs (viem's messages run over many lines). */
export function shortError(err: unknown): string {
  if (err instanceof BaseError) return err.shortMessage;
  if (err instanceof Error) return err.message.split('\n')[0];
  return String(err);
}

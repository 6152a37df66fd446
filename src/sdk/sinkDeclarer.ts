/**
 * The sink's capacity declaration by commit-reveal, safe across crashes.
 *
 * A commitment can be revealed only with its nonce, from 1 to `commitTimeout` blocks after the
 * commit, and while it is pending the sink cannot commit anything else. A sink that forgot the
 * nonce (crashed between commit and reveal) would be locked out for `commitTimeout` blocks and its
 * declaration lost. So `declare` writes {capacity, nonce, hash} to a durable `CommitmentStore`
 * BEFORE the commit is sent, and deletes it only after the reveal succeeded; on the next `declare`
 * (or `resume`), a new process with the same store finds the entry and finishes the job:
 *
 * - the chain holds the stored hash and it is revealable → reveal it (the stored capacity);
 * - it expired → drop it and commit afresh (an expired commitment can be replaced);
 * - the chain does not hold it (the commit never landed, or the reveal did and only the delete
 *   was lost) → drop it and commit afresh.
 *
 * A resumed reveal IS this call's declaration (`resumed: true`, the stored capacity): the EWMA
 * moves at most once per `minUpdateInterval`, so the new capacity waits for the next call.
 */
import type { Account, Hex, TransactionReceipt } from 'viem';
import { CapacityRegistry } from '../chain/bpe/artifacts.generated.ts';
import { commitCapacity, makeCommitment, revealCapacity, type BpeContext } from '../chain/bpe/actions.ts';
import { InMemoryCommitmentStore, type CommitmentKey, type CommitmentStore, type PendingCommitment } from './commitmentStore.ts';
import { CommitmentExpiredError, UpdateTooFrequentError, toBpeError } from './errors.ts';

export interface SinkDeclarerOptions {
  /** Where pending commitments live; default in memory (not crash-safe: use FileCommitmentStore). */
  store?: CommitmentStore;
  /** Mines a block (local chains without a block time). Without it the declarer waits for the
   * chain to produce the block after the commit, polling every `pollingIntervalMs`. */
  mineBlock?: () => Promise<unknown>;
  /** Poll interval while waiting for the block after the commit (default: the public client's). */
  pollingIntervalMs?: number;
  /** Runs after the entry is stored and just before the commit is sent (tests, logging). */
  beforeCommit?: (pending: PendingCommitment) => unknown;
  /** Runs after the commit is mined and recorded, before waiting for the reveal block. Throwing
   * here aborts the declaration with the commitment pending (how tests simulate a crash). */
  afterCommit?: (pending: PendingCommitment) => unknown;
}

export interface DeclareResult {
  /** The capacity revealed: the requested one, or a resumed commitment's stored one. */
  capacity: bigint;
  /** True when a pending commitment from an earlier run was revealed instead. */
  resumed: boolean;
  commit?: TransactionReceipt;
  reveal: TransactionReceipt;
}

export class SinkDeclarer {
  readonly store: CommitmentStore;
  readonly #options: SinkDeclarerOptions;
  #key: Promise<CommitmentKey> | undefined;
  // One declaration at a time: two would race for the one commitment slot.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly ctx: BpeContext,
    readonly sink: Account,
    readonly taskTypeId: Hex,
    options: SinkDeclarerOptions = {},
  ) {
    this.#options = options;
    this.store = options.store ?? new InMemoryCommitmentStore();
  }

  /** Declares `capacity` (tasks/epoch), or first finishes a pending commitment (see the class). */
  declare(capacity: bigint): Promise<DeclareResult> {
    if (typeof capacity !== 'bigint' || capacity < 0n || capacity >= 2n ** 40n) {
      return Promise.reject(new RangeError(`capacity must be a bigint in 0..2^40-1 tasks/epoch, got ${String(capacity)}`));
    }
    return this.#serial(async () => (await this.#resume()) ?? this.#fresh(capacity));
  }

  /** Reveals a pending commitment from an earlier run if there is one (undefined otherwise);
   * drops an expired or never-landed one. */
  resume(): Promise<DeclareResult | undefined> {
    return this.#serial(() => this.#resume());
  }

  /** The stored pending commitment of this sink and task type, if any. */
  async pending(): Promise<PendingCommitment | undefined> {
    return this.store.get(await this.#storeKey());
  }

  // ---------------------------------------------------------------- internals

  async #resume(): Promise<DeclareResult | undefined> {
    const key = await this.#storeKey();
    const stored = await this.store.get(key);
    if (!stored) return undefined;
    const { publicClient } = this.ctx.clients;
    const [onChain, block, timeout] = await Promise.all([
      publicClient.readContract({
        address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'commitmentOf',
        args: [this.taskTypeId, this.sink.address],
      }),
      publicClient.getBlockNumber({ cacheTime: 0 }),
      this.#commitTimeout(),
    ]);
    // The reveal lands in a later block than `block`: if that one is past the timeout, it expired.
    if (onChain.hash.toLowerCase() !== stored.hash.toLowerCase() || block + 1n > onChain.blockNumber + timeout) {
      // Never landed, already revealed, or expired: nothing to reveal. (A commit still in some
      // mempool would land later and make the fresh commit fail with CommitmentPending, typed.)
      await this.store.delete(key);
      return undefined;
    }
    const pending = { ...stored, committedAtBlock: onChain.blockNumber };
    let reveal: TransactionReceipt;
    try {
      reveal = await this.#reveal(key, pending);
    } catch (err) {
      // Expired while we waited for a block: #reveal dropped it, so start over.
      if (err instanceof CommitmentExpiredError) return undefined;
      throw err;
    }
    return { capacity: pending.capacity, resumed: true, reveal };
  }

  async #fresh(capacity: bigint): Promise<DeclareResult> {
    const key = await this.#storeKey();
    await this.#checkUpdateInterval();
    const { hash, nonce } = makeCommitment(this.sink.address, this.taskTypeId, capacity);
    const pending: PendingCommitment = { capacity, nonce, hash };
    // Durable before the transaction exists: a crash after sending must still find the nonce.
    await this.store.put(key, pending);
    await this.#options.beforeCommit?.({ ...pending });
    let commit: TransactionReceipt;
    try {
      commit = await commitCapacity(this.ctx, this.sink, this.taskTypeId, hash);
    } catch (err) {
      // A decoded revert comes from the gas estimate, so nothing was sent: drop the entry. Any
      // other failure (RPC, timeout) may have sent it: keep the entry for the next call to check.
      const mapped = toBpeError(err, 'committing capacity');
      if (mapped !== err) await this.store.delete(key);
      throw mapped;
    }
    pending.committedAtBlock = commit.blockNumber;
    await this.store.put(key, pending);
    await this.#options.afterCommit?.({ ...pending });
    const reveal = await this.#reveal(key, pending);
    return { capacity, resumed: false, commit, reveal };
  }

  /** Waits for a block after the commit, reveals, deletes the entry. On a revert the entry stays
   * (unless the commitment can no longer be revealed) so a later call can retry. */
  async #reveal(key: CommitmentKey, pending: PendingCommitment): Promise<TransactionReceipt> {
    await this.#waitForBlockAfter(pending.committedAtBlock!);
    let receipt: TransactionReceipt;
    try {
      receipt = await revealCapacity(this.ctx, this.sink, this.taskTypeId, pending.capacity, pending.nonce);
    } catch (err) {
      const mapped = toBpeError(err, 'revealing capacity');
      const code = (mapped as { code?: string }).code;
      if (code === 'CommitmentExpired' || code === 'CommitmentMismatch' || code === 'NoCommitment') await this.store.delete(key);
      throw mapped;
    }
    await this.store.delete(key);
    return receipt;
  }

  /** Reveal needs block.number > the commit's block; gas estimation may run against the latest
   * block, so wait until the chain has one (or mine it locally). */
  async #waitForBlockAfter(committedAt: bigint): Promise<void> {
    const { publicClient } = this.ctx.clients;
    const interval = this.#options.pollingIntervalMs ?? publicClient.pollingInterval;
    for (;;) {
      if ((await publicClient.getBlockNumber({ cacheTime: 0 })) > committedAt) return;
      if (this.#options.mineBlock) await this.#options.mineBlock();
      else await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  /** A reveal before `lastUpdate + minUpdateInterval` reverts, and its commitment would then block
   * new ones for `commitTimeout` blocks: refuse before committing when even the next block is too
   * early. (Should the reveal still revert, the entry is kept and a later call reveals it.) */
  async #checkUpdateInterval(): Promise<void> {
    const { publicClient } = this.ctx.clients;
    const registry = { address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi } as const;
    const [state, interval, latest] = await Promise.all([
      publicClient.readContract({ ...registry, functionName: 'sinkState', args: [this.taskTypeId, this.sink.address] }),
      publicClient.readContract({ ...registry, functionName: 'minUpdateInterval' }),
      publicClient.getBlock({ blockTag: 'latest' }),
    ]);
    if (state.lastUpdate === 0) return;
    const nextUpdateAt = BigInt(state.lastUpdate) + interval;
    // The reveal lands in a later block, at least one second on.
    if (latest.timestamp + 1n < nextUpdateAt) throw new UpdateTooFrequentError(nextUpdateAt, 'declaring capacity');
  }

  #commitTimeout(): Promise<bigint> {
    return this.ctx.clients.publicClient.readContract({
      address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'commitTimeout',
    });
  }

  #storeKey(): Promise<CommitmentKey> {
    this.#key ??= this.ctx.clients.publicClient.getChainId().then((chainId) => ({
      chainId, registry: this.ctx.bpe.capacityRegistry, taskTypeId: this.taskTypeId, sink: this.sink.address,
    }));
    this.#key.catch(() => {
      this.#key = undefined;
    });
    return this.#key;
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

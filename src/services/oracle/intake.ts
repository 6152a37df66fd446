/**
 * The acceptance pipeline of one request, item by item and in order: values in range, signature
 * by the sink (worker threads), then, synchronously so that concurrent requests cannot both take
 * one nonce: duplicate, freshness, registration, nonce above both this oracle's last stored one
 * and the registry's; the survivors are group-committed and only then reported "accepted".
 */
import type { Logger } from '../common/log.ts';
import { HttpError } from '../common/http.ts';
import { rangeError, type Attestation, type ItemResult } from './attestation.ts';
import type { ChainClock } from './chainClock.ts';
import type { GroupCommitter } from './groupCommit.ts';
import type { RegistryView, SinkInfo } from './registryView.ts';
import type { OracleStore } from './store.ts';
import type { VerifierPool } from './verifierPool.ts';

export interface FreshnessRules {
  /** The aggregator's maxAge and maxSkew, seconds. */
  maxAge: number;
  maxSkew: number;
}

export class Intake {
  /** Highest nonce stored or being stored per key (loaded from the store on first use). */
  private readonly lastNonce = new Map<string, number>();
  /** `key:nonce` of items in the commit queue (a duplicate must be found there too). */
  private readonly queued = new Set<string>();
  onResult: (result: ItemResult) => void = () => {};

  constructor(
    private readonly deps: {
      store: OracleStore;
      committer: GroupCommitter;
      verifier: VerifierPool;
      registry: RegistryView;
      clock: ChainClock;
      rules: FreshnessRules;
      log: Logger;
    },
  ) {}

  async submit(items: Attestation[]): Promise<ItemResult[]> {
    const { store, committer, verifier, registry, clock, rules } = this.deps;
    const results: (ItemResult | undefined)[] = items.map((a) => {
      const reason = rangeError(a);
      return reason ? { status: 'rejected', reason } : undefined;
    });
    const toVerify = items.filter((_, i) => !results[i]);
    const sigErrors = await verifier.check(toVerify);
    let j = 0;
    items.forEach((_, i) => {
      if (results[i]) return;
      const reason = sigErrors[j++];
      if (reason) results[i] = { status: 'rejected', reason };
    });

    // Registry lookups for the keys still in play (cached; one call per key at most).
    const infos = new Map<string, SinkInfo>();
    const pending = items.filter((a, i) => !results[i] && !infos.has(a.key));
    try {
      await Promise.all(
        [...new Map(pending.map((a) => [a.key, a])).values()].map(async (a) => infos.set(a.key, await registry.get(a.taskTypeId, a.sink))),
      );
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'registry lookup failed');
      throw new HttpError(503, 'cannot reach the chain to check sink registrations; nothing was stored, retry later');
    }

    // From here to the reservation nothing awaits: no other request interleaves.
    const now = clock.now();
    const accepted: Attestation[] = [];
    const acceptedAt: number[] = [];
    items.forEach((a, i) => {
      if (results[i]) return;
      const last = this.localLast(a.key, a);
      if (last !== undefined && a.nonce <= last) {
        results[i] =
          this.queued.has(`${a.key}:${a.nonce}`) || store.exists(a.taskTypeId, a.sink, a.nonce)
            ? { status: 'duplicate' }
            : { status: 'rejected', reason: `nonce not increasing: this oracle already holds nonce ${last} for this sink` };
        return;
      }
      const ts = Number(a.timestamp);
      if (ts + rules.maxAge < now) {
        results[i] = { status: 'rejected', reason: `stale: signed at ${a.timestamp}, more than the aggregator's max age of ${rules.maxAge} s ago` };
        return;
      }
      if (ts > now + rules.maxSkew) {
        results[i] = { status: 'rejected', reason: `from the future: signed at ${a.timestamp}, more than ${rules.maxSkew} s ahead of the chain` };
        return;
      }
      const info = infos.get(a.key)!;
      if (!info.registered) {
        results[i] = { status: 'rejected', reason: `not registered: ${a.sink} is not a registered sink of task type ${a.taskTypeId}` };
        return;
      }
      if (a.nonce <= info.nonce) {
        results[i] = { status: 'rejected', reason: `nonce not increasing: the registry has already applied nonce ${info.nonce} for this sink` };
        return;
      }
      this.lastNonce.set(a.key, a.nonce);
      this.queued.add(`${a.key}:${a.nonce}`);
      accepted.push(a);
      acceptedAt.push(i);
    });

    try {
      const inserted = await committer.submit(accepted);
      inserted.forEach((ok, k) => (results[acceptedAt[k]] = ok ? { status: 'accepted' } : { status: 'duplicate' }));
    } catch (err) {
      // Nothing of this group is on disk: forget the reservations (reloaded from the store).
      for (const a of accepted) this.lastNonce.delete(a.key);
      this.deps.log.error({ err }, 'storing attestations failed');
      throw new HttpError(503, 'storing the attestations failed; nothing was stored, retry later');
    } finally {
      for (const a of accepted) this.queued.delete(`${a.key}:${a.nonce}`);
    }
    const out = results as ItemResult[];
    for (const r of out) this.onResult(r);
    return out;
  }

  private localLast(key: string, a: Attestation): number | undefined {
    if (this.lastNonce.has(key)) return this.lastNonce.get(key);
    const stored = this.deps.store.maxNonce(a.taskTypeId, a.sink);
    if (stored !== undefined) this.lastNonce.set(key, stored);
    return stored;
  }
}

/**
 * The keeper (RebalanceEngine) as a service: `startKeeper(config)` connects with the deployment
 * file and a private key; `startKeeper({ ctx, ... })` runs on clients you already hold (tests, a
 * dashboard in the same process). Either way it returns a handle with `stop()`, `status()` and
 * `on(event, listener)`; the events are 'overflowUpdated', 'drained', 'rebalanced', 'unitsSynced',
 * 'windowOpened', 'epochAdvanced', 'pipelineRebalanced', 'slashed', 'degraded', 'recovered', 'block'.
 */
import type { Account, Address } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { connect, hasContext } from '../common/chain.ts';
import { startHttpService, type HttpService } from '../common/http.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { createRegistry, type Registry } from '../common/metrics.ts';
import { DUTY_KINDS, keeperSchema, type DutyKind, type KeeperConfig } from './config.ts';
import type { KeeperEventName } from './duties.ts';
import { ALL_DUTIES, RebalanceEngine, type KeeperStatus } from './engine.ts';
import type { TxRecord } from './executor.ts';
import type { TaskTypeRef } from './follower.ts';
import { keeperMetrics } from './metrics.ts';

export { keeperSchema, DUTY_KINDS, type DutyKind, type KeeperConfig, type KeeperStatus, type KeeperEventName, type TxRecord };

export interface KeeperDeps {
  ctx: BpeContext;
  /** Sender of the keeper's transactions (default: the clients' account). */
  account?: Account;
  gda?: Address;
  /** First block to scan for events (default 0). */
  startBlock?: bigint;
  knownTaskTypes?: TaskTypeRef[];
  pollMs?: number;
  duties?: Partial<Record<DutyKind, boolean>>;
  drainIntervalSec?: number;
  resyncSec?: number;
  maxLogRange?: number;
  /** Serve /health, /metrics and /v1/status here; false: no HTTP (default: 127.0.0.1, any free port). */
  http?: { host?: string; port?: number } | false;
  log?: Logger;
}

export interface Keeper {
  url?: string;
  metrics: Registry;
  stop(): Promise<void>;
  status(): KeeperStatus;
  on(event: KeeperEventName, listener: (detail: Record<string, any>) => void): () => void;
  /** Transactions this keeper sent. */
  sent(): readonly TxRecord[];
}


export async function startKeeper(input: KeeperConfig | KeeperDeps): Promise<Keeper> {
  let deps: KeeperDeps;
  if (hasContext<KeeperDeps>(input)) {
    deps = input;
  } else {
    const c = input;
    const conn = await connect(c);
    deps = {
      ctx: conn,
      gda: conn.deployment.superfluid.gda,
      startBlock: conn.deployment.startBlock,
      knownTaskTypes: conn.deployment.taskTypes.map((t) => ({ id: t.id, pool: t.pool })),
      pollMs: c.pollMs,
      duties: Object.fromEntries(DUTY_KINDS.map((k) => [k, c[k]])) as Record<DutyKind, boolean>,
      drainIntervalSec: c.drainIntervalSec,
      resyncSec: c.resyncSec,
      maxLogRange: c.maxLogRange,
      http: { host: c.host, port: c.port },
    };
  }
  const log = deps.log ?? createLogger('bpe-keeper');
  const registry = createRegistry('keeper');
  const metrics = keeperMetrics(registry);
  const engine = new RebalanceEngine({
    ctx: deps.ctx,
    account: deps.account ?? deps.ctx.clients.account,
    gda: deps.gda,
    startBlock: deps.startBlock ?? 0n,
    knownTaskTypes: deps.knownTaskTypes,
    pollMs: deps.pollMs ?? 1000,
    duties: { ...ALL_DUTIES, ...deps.duties },
    drainIntervalSec: deps.drainIntervalSec ?? keeperSchema.drainIntervalSec.default!,
    resyncSec: deps.resyncSec ?? keeperSchema.resyncSec.default!,
    maxLogRange: deps.maxLogRange ?? keeperSchema.maxLogRange.default!,
    log,
    metrics,
  });
  let http: HttpService | undefined;
  if (deps.http !== false) {
    http = await startHttpService({
      host: deps.http?.host,
      port: deps.http?.port ?? 0,
      log,
      metrics: registry,
      health: () => {
        const s = engine.status();
        return { ok: s.running && !s.degraded, ...s };
      },
      routes: [{ method: 'GET', path: '/v1/status', handle: () => engine.status() }],
    });
  }
  engine.start();
  return {
    url: http?.url,
    metrics: registry,
    status: () => engine.status(),
    sent: () => engine.sent,
    on(event, listener) {
      engine.on(event, listener);
      return () => engine.off(event, listener);
    },
    async stop() {
      await engine.stop();
      await http?.close();
    },
  };
}

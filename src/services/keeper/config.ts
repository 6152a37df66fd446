/** The keeper's configuration: the shared chain and HTTP fields, which duties run, and their pacing. */
import { chainFields, httpFields } from '../common/chain.ts';
import { field, type ConfigOf } from '../common/config.ts';

export const KEEPER_DEFAULT_PORT = 8646;

/** Every upkeep the keeper knows, by the name used in config, metrics, logs and events. */
export const DUTY_KINDS = ['overflow', 'drain', 'rebalance', 'syncUnits', 'sinkEpoch', 'priceEpoch', 'pipeline'] as const;
export type DutyKind = (typeof DUTY_KINDS)[number];

export const keeperSchema = {
  ...chainFields('BPE_KEEPER'),
  ...httpFields('BPE_KEEPER', KEEPER_DEFAULT_PORT),
  overflow: field('boolean', 'BPE_KEEPER_OVERFLOW', 'run BackpressurePool.updateOverflow when a stream change left the buffer share outside its deadband', { default: true }),
  drain: field('boolean', 'BPE_KEEPER_DRAIN', 'run EscrowBuffer.drain when the buffer holds money and sinks have spare capacity', { default: true }),
  rebalance: field('boolean', 'BPE_KEEPER_REBALANCE', 'run BackpressurePool.rebalance (every piece) while needsRebalance', { default: true }),
  syncUnits: field('boolean', 'BPE_KEEPER_SYNC_UNITS', 'run CapacityRegistry.syncUnits after a UnitsPushFailed event', { default: true }),
  sinkEpoch: field('boolean', 'BPE_KEEPER_SINK_EPOCH', 'run CompletionTracker.advanceEpoch for each registered sink (opens its window, then judges each ended epoch)', { default: true }),
  priceEpoch: field('boolean', 'BPE_KEEPER_PRICE_EPOCH', 'run PricingCurve.advanceEpoch once per epoch per task type', { default: true }),
  pipeline: field('boolean', 'BPE_KEEPER_PIPELINE', 'run Pipeline.rebalance when a stage\'s effective capacity differs from the limit applied', { default: true }),
  drainIntervalSec: field('int', 'BPE_KEEPER_DRAIN_INTERVAL_SEC', 'chain seconds between two drains of one task type (a drain pays spare rate x elapsed time)', { default: 60, min: 1, max: 86_400 }),
  resyncSec: field('int', 'BPE_KEEPER_RESYNC_SEC', 'chain seconds between full state checks of a task type with no event (fallback for missed events)', { default: 60, min: 1, max: 86_400 }),
  maxLogRange: field('int', 'BPE_KEEPER_MAX_LOG_RANGE', 'most blocks per eth_getLogs request', { default: 2000, min: 1, max: 1_000_000 }),
};

export type KeeperConfig = ConfigOf<typeof keeperSchema>;

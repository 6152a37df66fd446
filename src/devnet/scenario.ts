/**
 * The devnet's economy, as data: two task types chained as a pipeline (hash → transform), eight
 * sinks of different real speeds, three sources, and a timeline of incidents. Times are fractions
 * of the scenario's length, so a short headless run and a long interactive one play the same story.
 */
import type { WorkKind } from './work.ts';

export interface TaskTypeScenario {
  name: WorkKind;
  /** Token wei per task at creation (the base fee starts here and follows utilisation). */
  pricePerTask: bigint;
  /** What the escrow buffer may hold, in seconds of the type's total declared capacity. */
  bufferSeconds: number;
}

export interface SinkScenario {
  name: string;
  taskType: WorkKind;
  concurrency: number;
  /** Rounds of real work per task (hashing or text transforms). */
  rounds: number;
  /** Extra waiting per task (a model or API call), in ms: sets the sink's speed. */
  delayMs: number;
  /** 1 = honest; above 1 the sink declares that multiple of what it measures. */
  overDeclareFactor?: number;
  /** Its worker starts failing at this point of the timeline. */
  failsAt?: number;
  /** At this point its work gets this many times slower (downstream congestion). */
  slowsAt?: number;
  slowdown?: number;
}

export interface SourceScenario {
  name: string;
  taskType: WorkKind;
  /** Stream rate as a fraction of the type's declared capacity (in money: capacity × base fee). */
  load: number;
  /** Opens at this point and closes at `until` (default: whole run). */
  from?: number;
  until?: number;
}

export interface Scenario {
  taskTypes: TaskTypeScenario[];
  sinks: SinkScenario[];
  sources: SourceScenario[];
}

const E15 = 10n ** 15n;

export const DEVNET_SCENARIO: Scenario = {
  taskTypes: [
    { name: 'hash', pricePerTask: E15, bufferSeconds: 20 },
    { name: 'transform', pricePerTask: 2n * E15, bufferSeconds: 20 },
  ],
  sinks: [
    { name: 'hash-fast', taskType: 'hash', concurrency: 3, rounds: 2_000, delayMs: 3_000 },
    { name: 'hash-mid', taskType: 'hash', concurrency: 2, rounds: 2_000, delayMs: 4_500, failsAt: 0.5 },
    { name: 'hash-slow', taskType: 'hash', concurrency: 1, rounds: 2_000, delayMs: 6_000 },
    { name: 'hash-steady', taskType: 'hash', concurrency: 2, rounds: 2_000, delayMs: 3_600 },
    { name: 'xf-fast', taskType: 'transform', concurrency: 3, rounds: 200, delayMs: 1_800, slowsAt: 0.6, slowdown: 4 },
    { name: 'xf-mid', taskType: 'transform', concurrency: 2, rounds: 200, delayMs: 2_400, slowsAt: 0.6, slowdown: 4 },
    { name: 'xf-slow', taskType: 'transform', concurrency: 1, rounds: 200, delayMs: 4_500 },
    { name: 'xf-liar', taskType: 'transform', concurrency: 1, rounds: 200, delayMs: 4_500, overDeclareFactor: 3 },
  ],
  sources: [
    { name: 'app-1', taskType: 'hash', load: 0.5 },
    { name: 'app-2', taskType: 'transform', load: 0.6 },
    { name: 'spike', taskType: 'hash', load: 3, from: 0.2, until: 0.6 },
  ],
};

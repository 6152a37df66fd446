/** The allocation strategies the simulator compares. */

export const STRATEGIES = [
  'proportional',
  'proportional-buffered',
  'round-robin',
  'random',
  'backpressure',
  'optimal',
] as const;

export type StrategyName = (typeof STRATEGIES)[number];

export const STRATEGY_INFO: Record<StrategyName, string> = {
  proportional:
    "the seeds' rule: the whole stream split in proportion to the EWMA of the stake-capped signal (GDA units); open loop",
  'proportional-buffered':
    'the same split with the contracts\' overflow rule: the sinks get at most their total declared capacity, the rest streams into the EscrowBuffer and drains back in proportion to declared capacity',
  'round-robin': 'an equal share of the stream to every sink of the type each step (the fluid form of round-robin)',
  random: 'Dirichlet(1) weights drawn afresh every step',
  backpressure:
    'queue-aware backpressure (SPEC section 3): water-filling into declared capacity corrected by reported backlogs; buffer only while every sink is backlogged',
  optimal: 'oracle: water-filling on TRUE capacity and TRUE backlog, the rest held in the buffer',
};

export function isStrategy(s: string): s is StrategyName {
  return (STRATEGIES as readonly string[]).includes(s);
}

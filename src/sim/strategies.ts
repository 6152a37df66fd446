/** The allocation strategies the simulator compares. */

export const STRATEGIES = [
  'proportional',
  'onchain',
  'round-robin',
  'random',
  'backpressure',
  'optimal',
] as const;

export type StrategyName = (typeof STRATEGIES)[number];

export const STRATEGY_INFO: Record<StrategyName, string> = {
  proportional:
    "the seeds' rule: the whole stream split in proportion to the EWMA of the stake-capped signal (GDA units); open loop",
  onchain:
    'the contracts\' rule: pool weight = queue-adjusted capacity C / (1 + q / C) of the smoothed, stake-capped declaration and the reported backlog; the sinks get at most the sum of the weights (price 1), the rest streams into the EscrowBuffer, which drains into the spare weight (at most one step of it per step) in proportion to weight',
  'round-robin': 'an equal share of the stream to every sink of the type each step (the fluid form of round-robin)',
  random: 'Dirichlet(1) weights drawn afresh every step',
  backpressure:
    'robust backpressure: each sink is offered (1 + 5 %) x its capacity estimate minus its ledger backlog (paid - completed); the estimate is measured from completions (the declaration until then); the rest waits in the buffer, drained at most at the sinks\' spare rate',
  optimal: 'oracle: water-filling on TRUE capacity and TRUE backlog, the rest held in the buffer',
};

export function isStrategy(s: string): s is StrategyName {
  return (STRATEGIES as readonly string[]).includes(s);
}

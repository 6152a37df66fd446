/**
 * What a sink can really serve, estimated from evidence the protocol holds rather than from reports.
 *
 *  - The declaration (stake-capped, smoothed) is the prior, used until the sink has been measured.
 *  - Completions are the evidence. A sink that ends a step with work left over (its ledger backlog,
 *    paid minus completed, stays positive) worked flat out, so that step's completions ARE its
 *    capacity: the measurement replaces the estimate, up or down, at once. A sink that finished
 *    everything showed it can do at least what it completed, so the measurement can only rise.
 *  - The declaration is capped by stake; the measurement is not: a sink paid beyond what it staked
 *    for has just completed that much, and the step it stops, it is measured down. The exposure is one
 *    step's payment, not the stake-backed capacity.
 *
 * A sink that over-declares is measured the first time it is paid more than it can do; a sink that
 * fails is measured at 0 in the step it fails; reported backlogs play no part, so late, noisy or
 * false reports cannot move money. `measured` is NaN until the first measurement.
 */

/**
 * The capacity the allocation uses for one sink: the measurement once it was saturated; before that
 * the declaration, or what it has shown it can complete if that is more.
 */
export function capacityEstimate(declared: number, measured: number, shown: number): number {
  if (measured >= 0) return measured;
  return shown > declared ? shown : declared;
}

/** Whether a sink left work undone in a step: then it worked flat out and `completed` is its capacity. */
export function saturated(backlog: number, paid: number, completed: number): boolean {
  return backlog + paid > completed;
}

/**
 * The measurement after one step (NaN until the sink is first saturated): `backlog` the ledger backlog
 * before the step, `paid` this step's payment, `completed` what the sink completed in the step.
 */
export function measureCapacity(measured: number, backlog: number, paid: number, completed: number): number {
  if (saturated(backlog, paid, completed)) return completed;
  // Everything done: it can do at least that (a probe paid off when it beats the measurement).
  return measured >= 0 && completed > measured ? completed : measured;
}

/** The most a never-saturated sink has completed in one step (a lower bound of its capacity). */
export function shownCapacity(shown: number, completed: number): number {
  return completed > shown ? completed : shown;
}

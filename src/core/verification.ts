/**
 * Verification of declared capacity: what a sink loses when it completes less than it was paid for.
 * Two rules, as pure per-epoch functions (floats: the simulator's units, money at a price per task).
 * The constants are the contracts' parameters (basis points), so the CompletionTracker can mirror them.
 *
 *  - The seeds' rule (strikes): an epoch is a strike when completions < 50 % of the expected ones;
 *    after 3 consecutive strikes 10 % of the stake is slashed (and the count restarts). A sink that
 *    completes half of what it declares is never struck, so over-declaring by up to 100 % is free,
 *    and beyond that the slash is a fixed share of stake, not of what was taken.
 *  - The shortfall penalty (default): per epoch, expected = min(declared x epoch, paid / price);
 *    shortfall = max(0, expected x (1 - tolerance) - completed); penalty = shortfall x price x factor.
 *    The penalty grows with what was taken and not delivered, so every over-declaration beyond the
 *    tolerance costs `factor` times what it brings in; the tolerance absorbs honest jitter.
 */
/** Basis points per unit (float form of ewma.ts's BPS). */
const BPS = 10_000;

/** Shortfall rule: completions may fall this far below the expected ones without penalty (6 %:
 * with 5 % capacity noise, 5 % cost honest sinks 1.25 % of revenue, 6 % keeps it under 1 %). */
export const SHORTFALL_TOLERANCE_BPS = 600;
/** Shortfall rule: the penalty is this multiple of the undelivered work's price (3x). */
export const PENALTY_FACTOR_BPS = 30_000;
/** Seeds' rule: an epoch is a strike when completions are below this share of the expected (50 %). */
export const STRIKE_THRESHOLD_BPS = 5_000;
/** Seeds' rule: consecutive strikes that trigger a slash. */
export const STRIKES_TO_SLASH = 3;
/** Seeds' rule: share of stake slashed (10 %). */
export const SLASH_BPS = 1_000;

/** Tasks a sink is accountable for in one epoch: what it declared, but never more than it was paid for. */
export function expectedCompletions(declared: number, epoch: number, paid: number, price: number): number {
  const byPay = price > 0 ? paid / price : 0;
  const byDeclaration = declared * epoch;
  return byDeclaration < byPay ? byDeclaration : byPay;
}

/**
 * Shortfall rule: the penalty (money) for one epoch. The tolerance and factor default to the
 * contracts' constants; other values are for exploring alternatives (E8).
 */
export function shortfallPenalty(
  expected: number,
  completed: number,
  price: number,
  toleranceBps = SHORTFALL_TOLERANCE_BPS,
  factorBps = PENALTY_FACTOR_BPS,
): number {
  const shortfall = expected * (1 - toleranceBps / BPS) - completed;
  return shortfall > 0 ? (shortfall * price * factorBps) / BPS : 0;
}

/** Seeds' rule state: consecutive strikes so far. */
export interface StrikeState {
  strikes: number;
}

/**
 * Seeds' rule: records one epoch and returns the amount slashed (0 unless this epoch completes a run
 * of STRIKES_TO_SLASH strikes). A good epoch clears the count.
 */
export function strikeSlash(state: StrikeState, expected: number, completed: number, stake: number): number {
  if (!(completed < (expected * STRIKE_THRESHOLD_BPS) / BPS)) {
    state.strikes = 0;
    return 0;
  }
  state.strikes++;
  if (state.strikes < STRIKES_TO_SLASH) return 0;
  state.strikes = 0;
  return (stake * SLASH_BPS) / BPS;
}

/**
 * Stake per unit of capacity (tasks per step) under the linear cap, so that the stake covers the
 * largest penalty one epoch can bring: capacity x price x epoch x penalty factor. An over-declaring
 * sink is caught after one epoch; its stake then covers what the shortfall rule charges for it.
 */
export function stakePerTask(price: number, epoch: number): number {
  return (price * epoch * PENALTY_FACTOR_BPS) / BPS;
}

/**
 * Where every wei the sources paid went. At any instant after the streams stop:
 * paid in by sources = received by sinks (net of what they handed back) + held in the escrow
 * buffers + GDA rounding remainders held by the pools' admins. The devnet's summary prints this
 * and `--headless` exits non-zero unless it holds to the wei.
 */
export interface MoneyLedger {
  paidIn: bigint;
  receivedBySinks: bigint;
  inBuffer: bigint;
  remainder: bigint;
}

export function unaccounted(l: MoneyLedger): bigint {
  return l.paidIn - (l.receivedBySinks + l.inBuffer + l.remainder);
}

export function reconciles(l: MoneyLedger): boolean {
  return unaccounted(l) === 0n;
}

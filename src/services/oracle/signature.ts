/**
 * EIP-712 signature checks of capacity attestations, exactly as the OffchainAggregator does them
 * (OpenZeppelin `ECDSA.tryRecover(digest, r, vs)`: s in the lower half order, the signer must be
 * the sink), but fast: the digest is hashed by hand (one keccak of 224 bytes, one of 66) and a
 * sink seen before is checked against its cached public key with precomputed multiples (about 3x
 * faster than a full public-key recovery in JS; see `mul`). Pure functions plus one LRU cache: a worker
 * thread and the main thread run the same code.
 */
import { secp256k1 } from '@noble/curves/secp256k1';
import { invert } from '@noble/curves/abstract/modular';
import { keccak_256 } from '@noble/hashes/sha3';

type Point = InstanceType<typeof secp256k1.ProjectivePoint>;
const G = secp256k1.ProjectivePoint.BASE;
const ZERO = secp256k1.ProjectivePoint.ZERO;
const N = secp256k1.CURVE.n;
const HALF_N = N >> 1n;
const S_MASK = (1n << 255n) - 1n;

/** keccak256("CapacityAttestation(bytes32 taskTypeId,address sink,uint64 capacity,uint64 backlog,uint32 nonce,uint64 timestamp)") */
const TYPEHASH = keccak_256(
  new TextEncoder().encode('CapacityAttestation(bytes32 taskTypeId,address sink,uint64 capacity,uint64 backlog,uint32 nonce,uint64 timestamp)'),
);

/** The fields the signature covers, in the form a worker receives them. */
export interface SignedFields {
  taskTypeId: string;
  sink: string;
  capacity: bigint;
  backlog: bigint;
  nonce: number;
  timestamp: bigint;
  r: string;
  vs: string;
}

const hexToBytes = (hex: string, out: Uint8Array, offset: number, bytes: number): void => {
  const start = hex.length - bytes * 2;
  for (let i = 0; i < bytes; i++) out[offset + i] = parseInt(hex.slice(start + i * 2, start + i * 2 + 2), 16);
};
const writeUint = (value: bigint, out: Uint8Array, end: number): void => {
  for (let i = end - 1; value > 0n; i--, value >>= 8n) out[i] = Number(value & 0xffn);
};
const bytesToBigint = (b: Uint8Array): bigint => {
  let hex = '0x';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return BigInt(hex);
};

/** The EIP-712 digest the sink signs, given the aggregator's domain separator (32 bytes). */
export function attestationDigest(domainSeparator: Uint8Array, a: SignedFields): Uint8Array {
  const struct = new Uint8Array(224);
  struct.set(TYPEHASH, 0);
  hexToBytes(a.taskTypeId, struct, 32, 32);
  hexToBytes(a.sink, struct, 76, 20);
  writeUint(a.capacity, struct, 128);
  writeUint(a.backlog, struct, 160);
  writeUint(BigInt(a.nonce), struct, 192);
  writeUint(a.timestamp, struct, 224);
  const outer = new Uint8Array(66);
  outer[0] = 0x19;
  outer[1] = 0x01;
  outer.set(domainSeparator, 2);
  outer.set(keccak_256(struct), 34);
  return keccak_256(outer);
}

function addressOf(point: Point): string {
  const raw = point.toRawBytes(false);
  const hash = keccak_256(raw.subarray(1));
  let hex = '0x';
  for (let i = 12; i < 32; i++) hex += hash[i].toString(16).padStart(2, '0');
  return hex;
}

/**
 * Fast variable-time scalar multiplication k*P for a point with precomputed tables: k is split
 * with secp256k1's endomorphism (k = k1 + k2*lambda, both halves ~128 bits) and each half is
 * multiplied with noble's wNAF on the precomputed tables of P and of lambda*P = (beta*x, y).
 * (noble's own `multiplyUnsafe` on a point with precomputes is only right for scalars below
 * ~2^136: its tables are sized for the endomorphism's halves. Public data only here: variable
 * time is fine.)
 */
const ENDO = secp256k1.CURVE.endo!;
const Fp = secp256k1.CURVE.Fp;
type Pair = [Point, Point];
function tables(point: Point, window: number): Pair {
  const a = secp256k1.ProjectivePoint.fromAffine(point.toAffine());
  const b = new secp256k1.ProjectivePoint(Fp.mul(a.px, ENDO.beta), a.py, a.pz);
  a._setWindowSize(window);
  b._setWindowSize(window);
  return [a, b];
}
function mul([p, pl]: Pair, k: bigint): Point {
  const { k1neg, k1, k2neg, k2 } = ENDO.splitScalar(k);
  let a = p.multiplyUnsafe(k1);
  let b = pl.multiplyUnsafe(k2);
  if (k1neg) a = a.negate();
  if (k2neg) b = b.negate();
  return a.add(b);
}
/** The generator's tables (built on first use, ~2 x 20 ms). */
let gTables: Pair | undefined;

/** Public keys of recently seen sinks; the hottest get precomputed tables (window 6, ~0.5 MB each). */
const PRECOMPUTE_WINDOW = 6;
const MAX_KEYS = 4096;
const MAX_PRECOMPUTED = 64;
interface KeyEntry {
  point: Point;
  uses: number;
  tables?: Pair;
}
const keys = new Map<string, KeyEntry>();
let precomputedCount = 0;

function remember(sink: string, point: Point): void {
  if (keys.size >= MAX_KEYS) {
    const [oldest, entry] = keys.entries().next().value as [string, KeyEntry];
    if (entry.tables) precomputedCount--;
    keys.delete(oldest);
  }
  keys.set(sink, { point, uses: 1 });
}

/** ecrecover(digest, v, r, s) == Q, computed forwards: R = (e/s)G + (r/s)Q must be the point
 * with x = r and y parity v. Exactly the recovery's condition, without its square root and
 * with precomputed tables for G and Q. */
function matchesKey(Q: Pair, e: bigint, r: bigint, s: bigint, v: number): boolean {
  gTables ??= tables(G, 8);
  const si = invert(s, N);
  const u1 = (e * si) % N;
  const u2 = (r * si) % N;
  const sum = (u1 === 0n ? ZERO : mul(gTables, u1)).add(mul(Q, u2));
  if (sum.equals(ZERO)) return false;
  // x = r checked projectively first (no inversion); affine y only for a candidate.
  if (Fp.mul(r, sum.pz) !== sum.px) return false;
  const R = sum.toAffine();
  return R.x === r && Number(R.y & 1n) === v;
}

/**
 * `undefined` when the signature is valid and its signer is `a.sink`; otherwise the reason.
 * `domainSeparator` is the aggregator's EIP-712 domain separator.
 */
export function signatureError(domainSeparator: Uint8Array, a: SignedFields): string | undefined {
  const r = BigInt(a.r);
  const vs = BigInt(a.vs);
  const s = vs & S_MASK;
  const v = Number(vs >> 255n);
  if (r === 0n || r >= N) return 'bad signature: r out of range';
  if (s === 0n) return 'bad signature: s is zero';
  if (s > HALF_N) return 'bad signature: s in the upper half order (malleable)';
  const digest = attestationDigest(domainSeparator, a);
  const e = bytesToBigint(digest) % N;
  const cached = keys.get(a.sink);
  if (cached) {
    keys.delete(a.sink); // LRU: re-inserted as the newest
    keys.set(a.sink, cached);
    cached.uses++;
    if (!cached.tables && cached.uses >= 3 && precomputedCount < MAX_PRECOMPUTED) {
      cached.tables = tables(cached.point, PRECOMPUTE_WINDOW);
      precomputedCount++;
    }
    // A key without tables is checked by recovery below (as fast as an untabled forward check).
    if (cached.tables && matchesKey(cached.tables, e, r, s, v)) return undefined;
  }
  let signer: Point;
  try {
    signer = new secp256k1.Signature(r, s).addRecoveryBit(v).recoverPublicKey(digest);
  } catch {
    return 'bad signature: no public key recovers from it';
  }
  const address = addressOf(signer);
  if (address !== a.sink) return `wrong signer: the signature recovers to ${address}, not the sink`;
  if (!cached) remember(a.sink, signer);
  return undefined;
}

export function hexToBytes32(hex: string): Uint8Array {
  const out = new Uint8Array(32);
  hexToBytes(hex, out, 0, 32);
  return out;
}

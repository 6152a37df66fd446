/**
 * EIP-712 signature checks of capacity attestations, exactly as the OffchainAggregator does them
 * (OpenZeppelin `ECDSA.tryRecover(digest, r, vs)`: s in the lower half order, the signer must be
 * the sink), but fast: the digest is hashed by hand (one keccak of 224 bytes, one of 66) and the
 * public key is recovered by libsecp256k1, natively where its binding loads (the `secp256k1`
 * package ships binaries for linux-x64, darwin-arm64 and win32-x64 and compiles elsewhere when a
 * compiler is present), else compiled to WebAssembly (`tiny-secp256k1`). Recovery in plain JS
 * was the oracle's bottleneck: about 20x slower than native. Pure functions: a worker thread and
 * the main thread run the same code.
 */
import { createRequire } from 'node:module';
import { keccak_256 } from '@noble/hashes/sha3';
import * as wasm from 'tiny-secp256k1';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;
const S_MASK = (1n << 255n) - 1n;

/** Public-key recovery: the 65-byte uncompressed key, or null when none recovers. */
export interface Recovery {
  readonly name: 'native' | 'wasm';
  recover(digest: Uint8Array, signature: Uint8Array, recoveryId: 0 | 1): Uint8Array | null;
}

export const wasmRecovery: Recovery = {
  name: 'wasm',
  recover: (digest, signature, recoveryId) => {
    try {
      return wasm.recover(digest, signature, recoveryId, false);
    } catch {
      return null; // r not an x coordinate on the curve, or out of range
    }
  },
};

/** libsecp256k1's Node binding, or undefined where it is not built for this platform. Its
 * package falls back to a slow JS library on its own; loading `bindings` directly avoids that. */
function loadNative(): Recovery | undefined {
  let lib: { ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array };
  try {
    lib = createRequire(import.meta.url)('secp256k1/bindings');
  } catch {
    return undefined;
  }
  return {
    name: 'native',
    recover: (digest, signature, recoveryId) => {
      try {
        return lib.ecdsaRecover(signature, recoveryId, digest, false);
      } catch {
        return null;
      }
    },
  };
}

/** The fastest recovery this platform has. */
export const recovery: Recovery = loadNative() ?? wasmRecovery;

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

function addressOf(publicKey: Uint8Array): string {
  const hash = keccak_256(publicKey.subarray(1));
  let hex = '0x';
  for (let i = 12; i < 32; i++) hex += hash[i].toString(16).padStart(2, '0');
  return hex;
}

/**
 * `undefined` when the signature is valid and its signer is `a.sink`; otherwise the reason.
 * `domainSeparator` is the aggregator's EIP-712 domain separator.
 */
export function signatureError(domainSeparator: Uint8Array, a: SignedFields, using: Recovery = recovery): string | undefined {
  const r = BigInt(a.r);
  const vs = BigInt(a.vs);
  const s = vs & S_MASK;
  const v = Number(vs >> 255n) as 0 | 1;
  if (r === 0n || r >= N) return 'bad signature: r out of range';
  if (s === 0n) return 'bad signature: s is zero';
  if (s > HALF_N) return 'bad signature: s in the upper half order (malleable)';
  const signature = new Uint8Array(64);
  writeUint(r, signature, 32);
  writeUint(s, signature, 64);
  const publicKey = using.recover(attestationDigest(domainSeparator, a), signature, v);
  if (!publicKey) return 'bad signature: no public key recovers from it';
  const address = addressOf(publicKey);
  if (address !== a.sink) return `wrong signer: the signature recovers to ${address}, not the sink`;
  return undefined;
}

export function hexToBytes32(hex: string): Uint8Array {
  const out = new Uint8Array(32);
  hexToBytes(hex, out, 0, 32);
  return out;
}

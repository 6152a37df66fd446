// The oracle's signature check without a chain, against noble's signer and viem's recovery: both
// libsecp256k1 backends (the native binding and the WebAssembly build) accept exactly the
// signatures by the sink, with the right parity bit, and refuse malformed ones without throwing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak256, recoverAddress, serializeSignature, compactSignatureToSignature, toHex, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { attestationDigest, hexToBytes32, recovery, signatureError, wasmRecovery, type Recovery, type SignedFields } from '../../src/services/oracle/signature.ts';

const separator = hexToBytes32(keccak256(toHex('a domain separator')));
const taskTypeId = keccak256(toHex('task type'));

function signed(key: Hex, fields: Omit<SignedFields, 'r' | 'vs' | 'sink'>, signer: Hex = key): SignedFields {
  const sink = privateKeyToAccount(key).address.toLowerCase();
  const digest = attestationDigest(separator, { ...fields, sink, r: '', vs: '' });
  const sig = secp256k1.sign(digest, signer.slice(2), { lowS: true });
  return { ...fields, sink, r: toHex(sig.r, { size: 32 }), vs: toHex((BigInt(sig.recovery) << 255n) | sig.s, { size: 32 }) };
}

const N = secp256k1.CURVE.n;
const backends: Recovery[] = recovery.name === 'native' ? [recovery, wasmRecovery] : [wasmRecovery];

describe('oracle signature check', () => {
  it('uses the native libsecp256k1 binding where the package ships one (linux-x64, darwin-arm64, win32-x64)', () => {
    const prebuilt = ['linux-x64', 'darwin-arm64', 'win32-x64'].includes(`${process.platform}-${process.arch}`);
    if (prebuilt) assert.equal(recovery.name, 'native');
    else assert.ok(['native', 'wasm'].includes(recovery.name));
  });

  for (const using of backends) {
    it(`${using.name}: accepts every signature by the sink and refuses a flipped parity bit, another signer, a changed field`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => b.some((x) => x !== 0)),
          fc.array(fc.record({ capacity: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), nonce: fc.nat(2 ** 32 - 1) }), { minLength: 2, maxLength: 6 }),
          (seed, reports) => {
            const key = keccak256(seed);
            const other = keccak256(key);
            for (const rep of reports) {
              const a = signed(key, { taskTypeId, capacity: rep.capacity, backlog: 3n, nonce: rep.nonce, timestamp: 1_800_000_000n });
              assert.equal(signatureError(separator, a, using), undefined);
              const flipped = { ...a, vs: toHex(BigInt(a.vs) ^ (1n << 255n), { size: 32 }) };
              assert.match(signatureError(separator, flipped, using) ?? '', /^(wrong signer|bad signature)/);
              const forged = signed(key, { taskTypeId, capacity: rep.capacity, backlog: 3n, nonce: rep.nonce, timestamp: 1_800_000_000n }, other);
              assert.equal(signatureError(separator, forged, using), `wrong signer: the signature recovers to ${privateKeyToAccount(other).address.toLowerCase()}, not the sink`);
              assert.match(signatureError(separator, { ...a, nonce: a.nonce ^ 1 }, using) ?? '', /^(wrong signer|bad signature)/);
            }
          },
        ),
        { numRuns: 25 },
      );
    });

    it(`${using.name}: refuses r and s out of range, the malleable s and an r that is no x coordinate, with a reason`, () => {
      const a = signed(keccak256(toHex('ranges')), { taskTypeId, capacity: 1n, backlog: 0n, nonce: 1, timestamp: 1_800_000_000n });
      const parity = BigInt(a.vs) >> 255n;
      const s = BigInt(a.vs) & ((1n << 255n) - 1n);
      const with_ = (r: bigint, sv: bigint) => signatureError(separator, { ...a, r: toHex(r, { size: 32 }), vs: toHex(sv, { size: 32 }) }, using);
      assert.equal(with_(0n, BigInt(a.vs)), 'bad signature: r out of range');
      assert.equal(with_(N, BigInt(a.vs)), 'bad signature: r out of range');
      assert.equal(with_(BigInt(a.r), parity << 255n), 'bad signature: s is zero');
      // Above n/2 (the mirror of a low s): refused, as OpenZeppelin refuses it on chain.
      assert.equal(with_(BigInt(a.r), (parity << 255n) | ((N >> 1n) + 1n)), 'bad signature: s in the upper half order (malleable)');
      assert.match(with_(BigInt(a.r), (parity << 255n) | (s ^ 1n)) ?? '', /^(wrong signer|bad signature)/);
      // x = 5 has no point on secp256k1 (5^3 + 7 = 132 is not a square mod p).
      assert.equal(with_(5n, BigInt(a.vs)), 'bad signature: no public key recovers from it');
    });
  }

  it('agrees with viem on the signer', async () => {
    const key = keccak256(toHex('viem parity'));
    const a = signed(key, { taskTypeId, capacity: 5n, backlog: 1n, nonce: 7, timestamp: 1_800_000_000n });
    assert.equal(signatureError(separator, a), undefined);
    const digest = attestationDigest(separator, a);
    const signer = await recoverAddress({ hash: toHex(digest), signature: serializeSignature(compactSignatureToSignature({ r: a.r as Hex, yParityAndS: a.vs as Hex })) });
    assert.equal(signer.toLowerCase(), a.sink);
  });
});

// The oracle's signature check without a chain, against noble's signer and viem's recovery: the
// cold path (recovery) and the hot path (cached key, endomorphism-split multiplication on
// precomputed tables) accept exactly the signatures by the sink, with the right parity bit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak256, recoverAddress, serializeSignature, compactSignatureToSignature, toHex, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { attestationDigest, hexToBytes32, signatureError, type SignedFields } from '../../src/services/oracle/signature.ts';

const separator = hexToBytes32(keccak256(toHex('a domain separator')));
const taskTypeId = keccak256(toHex('task type'));

function signed(key: Hex, fields: Omit<SignedFields, 'r' | 'vs' | 'sink'>, signer: Hex = key): SignedFields {
  const sink = privateKeyToAccount(key).address.toLowerCase();
  const digest = attestationDigest(separator, { ...fields, sink, r: '', vs: '' });
  const sig = secp256k1.sign(digest, signer.slice(2), { lowS: true });
  return { ...fields, sink, r: toHex(sig.r, { size: 32 }), vs: toHex((BigInt(sig.recovery) << 255n) | sig.s, { size: 32 }) };
}

describe('oracle signature check', () => {
  it('accepts every signature by the sink, cold and hot, and refuses a flipped parity bit, another signer, a changed field', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((b) => b.some((x) => x !== 0)),
        fc.array(fc.record({ capacity: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), nonce: fc.nat(2 ** 32 - 1) }), { minLength: 6, maxLength: 10 }),
        (seed, reports) => {
          const key = keccak256(seed);
          const other = keccak256(key);
          for (const rep of reports) {
            const a = signed(key, { taskTypeId, capacity: rep.capacity, backlog: 3n, nonce: rep.nonce, timestamp: 1_800_000_000n });
            assert.equal(signatureError(separator, a), undefined);
            const flipped = { ...a, vs: toHex(BigInt(a.vs) ^ (1n << 255n), { size: 32 }) };
            assert.match(signatureError(separator, flipped) ?? '', /^(wrong signer|bad signature)/);
            const forged = signed(key, { taskTypeId, capacity: rep.capacity, backlog: 3n, nonce: rep.nonce, timestamp: 1_800_000_000n }, other);
            assert.equal(signatureError(separator, forged), `wrong signer: the signature recovers to ${privateKeyToAccount(other).address.toLowerCase()}, not the sink`);
            assert.match(signatureError(separator, { ...a, nonce: a.nonce ^ 1 }) ?? '', /^(wrong signer|bad signature)/);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('agrees with viem on the signer', async () => {
    const key = keccak256(toHex('viem parity'));
    const a = signed(key, { taskTypeId, capacity: 5n, backlog: 1n, nonce: 7, timestamp: 1_800_000_000n });
    const digest = attestationDigest(separator, a);
    const signer = await recoverAddress({ hash: toHex(digest), signature: serializeSignature(compactSignatureToSignature({ r: a.r as Hex, yParityAndS: a.vs as Hex })) });
    assert.equal(signer.toLowerCase(), a.sink);
  });
});

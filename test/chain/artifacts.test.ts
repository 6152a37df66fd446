import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toFunctionSignature, type Abi, type AbiFunction, type Address } from 'viem';
import { gdaAbi, gdaForwarderAbi, superfluidPoolAbi, superTokenAbi, testTokenAbi } from '../../src/chain/abis.ts';
import { linkBytecode, loadSuperfluidArtifact, requiredLibraries } from '../../src/chain/artifacts.ts';
import { erc1820DeploymentTransaction, FRAMEWORK_DEPLOYER_ARTIFACT } from '../../src/chain/superfluid.ts';

describe('loadSuperfluidArtifact', () => {
  it('finds the same artifact by bare name and by source:name', () => {
    const byName = loadSuperfluidArtifact('SuperfluidFrameworkDeployer');
    const qualified = loadSuperfluidArtifact(FRAMEWORK_DEPLOYER_ARTIFACT);
    assert.equal(byName.sourceName, 'contracts/utils/SuperfluidFrameworkDeployer.t.sol');
    assert.equal(byName.bytecode, qualified.bytecode);
    assert.ok(byName.bytecode.length > 2 * 24_576, 'the deployer exceeds the EIP-170 size limit');
  });

  it('rejects unknown names', () => {
    assert.throws(() => loadSuperfluidArtifact('NoSuchContract'), /no Superfluid artifact named NoSuchContract/);
  });
});

describe('linkBytecode', () => {
  const deployer = loadSuperfluidArtifact(FRAMEWORK_DEPLOYER_ARTIFACT);
  const libraries = requiredLibraries(deployer);
  // Distinct fake addresses so that each placeholder can be checked for its own library.
  const fake = Object.fromEntries(
    libraries.map((name, i): [string, Address] => [name, `0x${(i + 1).toString(16).padStart(40, 'a')}`]),
  );

  it('lists the 14 deployer libraries the deployer links against', () => {
    assert.equal(libraries.length, 14);
    assert.ok(libraries.includes('contracts/utils/SuperfluidFrameworkDeploymentSteps.t.sol:TokenDeployerLibrary'));
  });

  it('writes each library address at each of its offsets and leaves no placeholder', () => {
    const linked = linkBytecode(deployer, fake);
    assert.equal(linked.length, deployer.bytecode.length);
    assert.ok(!linked.includes('__$'));
    for (const [source, libs] of Object.entries(deployer.linkReferences)) {
      for (const [lib, refs] of Object.entries(libs)) {
        for (const { start, length } of refs) {
          const at = 2 + start * 2;
          assert.equal(`0x${linked.slice(at, at + length * 2)}`, fake[`${source}:${lib}`]);
        }
      }
    }
  });

  it('names a missing library', () => {
    const { [libraries[0]]: _missing, ...rest } = fake;
    assert.throws(() => linkBytecode(deployer, rest), new RegExp(`needs library ${libraries[0]}`));
  });

  it('refuses offsets that do not point at a placeholder', () => {
    const linkedOnce = { ...deployer, bytecode: linkBytecode(deployer, fake) };
    assert.throws(() => linkBytecode(linkedOnce, fake), /no placeholder for/);
  });
});

describe('ERC1820 deployment transaction', () => {
  it('matches the keyless transaction published in EIP-1820', async () => {
    const raw = await erc1820DeploymentTransaction();
    // RLP header (nonce 0, 100 gwei, 800,000 gas, no recipient, 0 value, 2533-byte data) and
    // the signature v = 27, r = s = 0x1820...1820, as printed in the EIP.
    assert.ok(raw.startsWith('0xf90a388085174876e800830c35008080b909e5'));
    assert.ok(raw.endsWith(`1ba0${'1820'.repeat(16)}a0${'1820'.repeat(16)}`));
    assert.equal(raw.length, 2 + 2 * (3 + 0x0a38)); // f9 0a38: 3-byte list header + payload
  });
});

describe('hand-written ABIs agree with the packaged artifacts', () => {
  const cases: [string, Abi, string][] = [
    ['superTokenAbi', superTokenAbi, 'ISuperToken'],
    ['testTokenAbi', testTokenAbi, 'TestToken'],
    ['gdaForwarderAbi', gdaForwarderAbi, 'GDAv1Forwarder'],
    ['superfluidPoolAbi', superfluidPoolAbi, 'ISuperfluidPool'],
    ['gdaAbi', gdaAbi, 'IGeneralDistributionAgreementV1'],
  ];
  const outputs = (f: AbiFunction) => f.outputs.map((o) => o.type).join(',');
  const isView = (f: AbiFunction) => f.stateMutability === 'view' || f.stateMutability === 'pure';

  for (const [name, abi, artifactName] of cases) {
    it(`${name} ⊆ ${artifactName}`, () => {
      const packaged = loadSuperfluidArtifact(artifactName).abi.filter((x): x is AbiFunction => x.type === 'function');
      const ours = abi.filter((x): x is AbiFunction => x.type === 'function');
      assert.ok(ours.length > 0);
      for (const f of ours) {
        const signature = toFunctionSignature(f);
        const match = packaged.find((p) => toFunctionSignature(p) === signature);
        assert.ok(match, `${artifactName} has no ${signature}`);
        assert.equal(outputs(f), outputs(match), `${signature} outputs`);
        assert.equal(isView(f), isView(match), `${signature} view-ness`);
      }
    });
  }
});

describe('bundled Superfluid framework artifacts (superfluid.generated.ts)', () => {
  it('match the package: the deployer and every library it links, bytecode and link references', async () => {
    const { FRAMEWORK_ARTIFACTS, ERC1820_RUNTIME_CODE } = await import('../../src/chain/superfluid.generated.ts');
    const names = new Set<string>();
    const walk = (name: string) => {
      if (names.has(name)) return;
      names.add(name);
      requiredLibraries(loadSuperfluidArtifact(name)).forEach(walk);
    };
    walk(FRAMEWORK_DEPLOYER_ARTIFACT);
    assert.deepEqual(Object.keys(FRAMEWORK_ARTIFACTS).sort(), [...names].sort());
    for (const name of names) {
      const packaged = loadSuperfluidArtifact(name);
      assert.equal(FRAMEWORK_ARTIFACTS[name].bytecode, packaged.bytecode, name);
      assert.deepEqual(FRAMEWORK_ARTIFACTS[name].linkReferences, packaged.linkReferences, name);
    }
    assert.match(ERC1820_RUNTIME_CODE, /^0x[0-9a-f]+$/);
  });
});

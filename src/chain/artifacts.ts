// Compiled contracts from Superfluid's npm package (prebuilt Hardhat artifacts: nothing is
// compiled here) and the library linker that any artifact with `linkReferences` needs.
// Loading needs @superfluid-finance/ethereum-contracts installed (a devDependency of this package:
// deploySuperfluid uses bytecode bundled at build time instead, see superfluid.generated.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { isAddress, type Abi, type Address, type Hex } from 'viem';

/** Hardhat/solc link references: source file → library name → byte ranges of its placeholder. */
export type LinkReferences = Readonly<
  Record<string, Readonly<Record<string, readonly { readonly start: number; readonly length: number }[]>>>
>;

/** What deploying needs: creation bytecode, possibly with unlinked library placeholders. */
export interface LinkableArtifact {
  contractName: string;
  sourceName: string;
  abi: Abi;
  bytecode: Hex;
  linkReferences: LinkReferences;
}

/** Libraries by fully qualified name, `"path/File.sol:LibraryName"`. */
export type LibraryAddresses = Readonly<Record<string, Address>>;

/** Absolute path of a file inside @superfluid-finance/ethereum-contracts. */
export function superfluidPackagePath(relativePath: string): string {
  return join(packageRoot(), relativePath);
}

/**
 * Loads an artifact from the package's build/hardhat tree, by fully qualified name
 * (`"contracts/utils/SuperfluidFrameworkDeployer.t.sol:SuperfluidFrameworkDeployer"`) or by bare
 * contract name (`"SuperfluidFrameworkDeployer"`, an error if two sources define that name).
 */
export function loadSuperfluidArtifact(name: string): LinkableArtifact {
  const colon = name.lastIndexOf(':');
  const file =
    colon >= 0
      ? join('build', 'hardhat', name.slice(0, colon), `${name.slice(colon + 1)}.json`)
      : findByContractName(name);
  return parseArtifact(readFileSync(superfluidPackagePath(file), 'utf8'), name);
}

/** Replaces every library placeholder with its address; throws if any library is missing. */
export function linkBytecode(artifact: LinkableArtifact, libraries: LibraryAddresses): Hex {
  let hex = artifact.bytecode.slice(2);
  for (const [source, libs] of Object.entries(artifact.linkReferences)) {
    for (const [lib, refs] of Object.entries(libs)) {
      const qualified = `${source}:${lib}`;
      const address = libraries[qualified];
      if (!address) throw new Error(`${artifact.contractName} needs library ${qualified}, which was not given`);
      if (!isAddress(address, { strict: false })) throw new Error(`library ${qualified}: ${address} is not an address`);
      for (const { start, length } of refs) {
        // Placeholders are `__$<34 hex chars>$__`; anything else means the offsets do not fit this bytecode.
        if (length !== 20 || hex.slice(start * 2, start * 2 + 3) !== '__$') {
          throw new Error(`${artifact.contractName}: no placeholder for ${qualified} at byte ${start}`);
        }
        hex = hex.slice(0, start * 2) + address.slice(2).toLowerCase() + hex.slice((start + length) * 2);
      }
    }
  }
  return `0x${hex}`;
}

/** Fully qualified names of the libraries an artifact must be linked with. */
export function requiredLibraries(artifact: LinkableArtifact): string[] {
  return Object.entries(artifact.linkReferences).flatMap(([source, libs]) =>
    Object.keys(libs).map((lib) => `${source}:${lib}`),
  );
}

let root: string | undefined;
function packageRoot(): string {
  try {
    root ??= dirname(createRequire(import.meta.url).resolve('@superfluid-finance/ethereum-contracts/package.json'));
  } catch {
    throw new Error('loading Superfluid artifacts needs @superfluid-finance/ethereum-contracts installed (npm install it)');
  }
  return root;
}

let byName: Map<string, string[]> | undefined;
/** Package-relative artifact paths by contract name, from one walk of build/hardhat. */
function findByContractName(name: string): string {
  if (!byName) {
    byName = new Map();
    const base = join('build', 'hardhat');
    for (const entry of readdirSync(superfluidPackagePath(base), { recursive: true, encoding: 'utf8' })) {
      // <source>.sol/<Contract>.json; the .dbg.json files next to them only point at build-info.
      if (!entry.endsWith('.json') || entry.endsWith('.dbg.json') || entry.startsWith(`build-info${sep}`)) continue;
      const contract = entry.slice(entry.lastIndexOf(sep) + 1, -'.json'.length);
      byName.set(contract, [...(byName.get(contract) ?? []), join(base, entry)]);
    }
  }
  const files = byName.get(name) ?? [];
  if (files.length === 0) throw new Error(`no Superfluid artifact named ${name}`);
  if (files.length > 1) throw new Error(`several Superfluid artifacts named ${name}; use source:name (${files.join(', ')})`);
  return files[0];
}

function parseArtifact(json: string, name: string): LinkableArtifact {
  const raw = JSON.parse(json) as Partial<Record<keyof LinkableArtifact, unknown>>;
  if (
    typeof raw.contractName !== 'string' ||
    typeof raw.sourceName !== 'string' ||
    !Array.isArray(raw.abi) ||
    typeof raw.bytecode !== 'string' ||
    !raw.bytecode.startsWith('0x') ||
    typeof raw.linkReferences !== 'object' ||
    raw.linkReferences === null
  ) {
    throw new Error(`${name}: not a Hardhat artifact (needs contractName, sourceName, abi, bytecode, linkReferences)`);
  }
  return {
    contractName: raw.contractName,
    sourceName: raw.sourceName,
    abi: raw.abi as Abi,
    bytecode: raw.bytecode as Hex,
    linkReferences: raw.linkReferences as LinkReferences,
  };
}

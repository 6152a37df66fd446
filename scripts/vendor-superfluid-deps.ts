// Superfluid's sources import a few files that no npm package ships (solidity-semantic-money,
// aave-v3 interfaces, its pinned OpenZeppelin copy). Their exact text is in the package's
// build-info; this writes them to contracts/.vendor so forge can resolve the imports offline.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildInfoDir = join(root, 'node_modules/@superfluid-finance/ethereum-contracts/build/hardhat/build-info');
const vendorDir = join(root, 'contracts/.vendor');

export function vendorSuperfluidDeps(): number {
  let written = 0;
  for (const file of readdirSync(buildInfoDir)) {
    const info = JSON.parse(readFileSync(join(buildInfoDir, file), 'utf8')) as {
      input: { sources: Record<string, { content: string }> };
    };
    for (const [path, { content }] of Object.entries(info.input.sources)) {
      if (path.startsWith('contracts/')) continue; // shipped as files in the package itself
      const target = join(vendorDir, path);
      if (existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
      written++;
    }
  }
  return written;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`vendored ${vendorSuperfluidDeps()} Superfluid dependency sources into contracts/.vendor`);
}

// Compiles the Solidity sources offline: vendors Superfluid's unpublished imports, then runs
// forge (with the solc-js shim) and regenerates the typed ABIs used by viem.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vendorSuperfluidDeps } from './vendor-superfluid-deps.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
vendorSuperfluidDeps();
execFileSync('npx', ['forge', 'build'], { cwd: root, stdio: 'inherit' });

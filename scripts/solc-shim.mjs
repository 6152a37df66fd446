#!/usr/bin/env node
// Forge expects a native `solc` binary; this shim answers like one using solc-js from npm,
// so nothing is downloaded at build time (see ../shared/TOOLCHAIN.md).
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(import.meta.url);
const solc = require('solc');
const args = process.argv.slice(2);

if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\nVersion: 0.8.35+commit.47b9dedd.Linux.g++\n');
  process.exit(0);
}

// Import roots in the order solc itself searches them.
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path' || args[i] === '--include-path') roots.push(args[++i]);
}
roots.push(process.cwd());

function findImports(path) {
  for (const root of roots) {
    const full = resolve(root, path);
    if (existsSync(full)) return { contents: readFileSync(full, 'utf8') };
  }
  return { error: `File not found: ${path}` };
}

process.stdout.write(solc.compile(readFileSync(0, 'utf8'), { import: findImports }));

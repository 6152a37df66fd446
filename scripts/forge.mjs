#!/usr/bin/env node
// Runs forge (from node_modules) with the given arguments and fails when the compiler failed.
// With solc-js behind scripts/solc-shim.mjs, forge prints "Compiler run failed" and still exits 0,
// so without this check a contract that does not compile would pass a build or a test run.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FAILED = 'Compiler run failed';
let failed = false;
let tail = '';

const child = spawn(join(root, 'node_modules/.bin/forge'), process.argv.slice(2), {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
});
const watch = (from, to) => from.on('data', (chunk) => {
  to.write(chunk);
  const text = tail + chunk.toString();
  if (text.includes(FAILED)) failed = true;
  tail = text.slice(-FAILED.length);
});
watch(child.stdout, process.stdout);
watch(child.stderr, process.stderr);
child.on('close', (code, signal) => {
  if (failed) {
    console.error(`forge ${process.argv[2] ?? ''}: the Solidity compiler failed (see above)`);
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});

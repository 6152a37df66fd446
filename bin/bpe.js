#!/usr/bin/env node
// Entry point of the `bpe` CLI. In a checkout (src/ present) it runs the TypeScript sources
// through tsx, so an edit never meets a stale build; in the installed package (no src/, only the
// compiled dist/ that prepack builds) it runs dist/cli/main.js with plain Node, needing no tsx.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}

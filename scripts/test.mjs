#!/usr/bin/env node
// The one test command: type-check, lint, then every mocha suite (which starts its own redis-server).
// Always ends with the line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

function step(label, command, commandArgs) {
  process.stdout.write(`\n== ${label} ==\n`);
  const result = spawnSync(command, commandArgs, { stdio: 'inherit' });
  if (result.status !== 0) {
    process.stdout.write(`\n${label} failed.\n0 passed, 1 failed\n`);
    process.exit(result.status ?? 1);
  }
}

step('Type check (tsc -b)', 'npx', ['tsc', '-b']);
step('Lint (eslint)', 'npx', ['eslint', '.']);

const specs = only === undefined ? [] : [`test/${only}/**/*.test.ts`];
process.stdout.write('\n== Tests (mocha) ==\n');
const mocha = spawnSync('npx', ['mocha', ...specs], { stdio: 'inherit' });
process.exit(mocha.status ?? 1);

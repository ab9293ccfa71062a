#!/usr/bin/env node
// The one test command: type-check, lint, then every mocha suite (which starts its own redis-server).
// Always ends with the line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { URL } from 'node:url';

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

/**
 * With --only, mocha must see that one spec alone: given on the command line next to .mocharc.json, a spec is added to the
 * config's list rather than replacing it. So the config is read here and passed as flags, without its spec, after --no-config.
 */
function onlyArgs(suite) {
  const config = JSON.parse(readFileSync(new URL('../.mocharc.json', import.meta.url), 'utf8'));
  const flags = Object.entries(config)
    .filter(([key]) => key !== 'spec')
    .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).flatMap((v) => [`--${key}`, String(v)]));
  return ['--no-config', ...flags, `test/${suite}/**/*.test.ts`];
}

process.stdout.write('\n== Tests (mocha) ==\n');
const mocha = spawnSync('npx', ['mocha', ...(only === undefined ? [] : onlyArgs(only))], { stdio: 'inherit' });
process.exit(mocha.status ?? 1);

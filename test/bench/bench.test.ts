import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FIGURES } from '../../bench/labels.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The quick mode is meant to finish within a minute; a loaded CI machine gets twice that. */
const QUICK_RUN_TIMEOUT_MS = 120_000;

function runQuickBench(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/main.ts', '--quick'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench', function () {
  this.timeout(QUICK_RUN_TIMEOUT_MS);

  // Timings are never asserted: the machine running the tests is shared and noisy. What must not rot is that every figure is
  // still measured and printed with its baseline and ratio.
  it('runs in quick mode and prints every figure with a ratio', async () => {
    const run = await runQuickBench();
    expect(run.code, run.stderr).to.equal(0);
    for (const figure of FIGURES) {
      const row = run.stdout.split('\n').find((line) => line.startsWith(`| ${figure} `));
      expect(row, `no row for "${figure}" in:\n${run.stdout}`).to.be.a('string');
      // The column is padded to its widest ratio (a ratio of 10x or more widens it for every row).
      expect(row).to.match(/\| \d+\.\d\dx +\|/);
    }
  });
});

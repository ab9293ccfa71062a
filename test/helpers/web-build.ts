/** Builds the dashboard bundle (clients/web/dist) once per test run, so browser and HTTP tests always serve the current source. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WEB_BUILD_SCRIPT = fileURLToPath(new URL('../../clients/web/build.mjs', import.meta.url));

let built = false;

export function buildDashboard(): void {
  if (built) return;
  const result = spawnSync(process.execPath, [WEB_BUILD_SCRIPT], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`building the dashboard failed: ${(result.stderr || result.stdout).trim()}`);
  built = true;
}

/** The real services tests need come from Debian's packages: found on PATH, or installed with apt-get when we are root. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The executable's path, looking in /usr/sbin and /usr/bin too (root's PATH is not always everyone's). */
export function findExecutable(name: string): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/bin']) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * Returns the path of `executable`, installing Debian's `pkg` first when it is missing and the tests run as root;
 * otherwise throws one line naming the package.
 */
export function ensureDebianPackage(executable: string, pkg: string): string {
  const found = findExecutable(executable);
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(`${executable} is not installed: install Debian's ${pkg} package (apt-get install ${pkg}) or run the tests as root`);
  }
  console.log(`${executable} not found: installing Debian's ${pkg} package (apt-get install -y ${pkg})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', pkg]]) {
    const result = spawnSync('apt-get', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.status !== 0) {
      const detail = (result.stderr || result.stdout || String(result.error ?? '')).trim().split('\n').slice(-3).join(' | ');
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${String(result.status)}): ${detail}`);
    }
  }
  const installed = findExecutable(executable);
  if (installed === undefined) throw new Error(`apt-get installed ${pkg} but ${executable} is still not on PATH`);
  return installed;
}

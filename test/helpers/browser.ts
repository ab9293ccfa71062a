/** Real headless Chromium (Debian's `chromium` package) driven by playwright-core; installed with apt-get when missing and root. */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const DEBIAN_PACKAGE = 'chromium';
/** Flags that keep a headless Chromium quiet and working as root in a container (see shared/design/toolchain.md). */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

function findChromium(): string | undefined {
  for (const dir of ['/usr/bin', ...(process.env['PATH'] ?? '').split(delimiter)]) {
    const candidate = join(dir, 'chromium');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The path of the chromium binary, installing Debian's package when it is missing and we may (root). */
export function ensureChromiumInstalled(): string {
  const found = findChromium();
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(`chromium is not installed: install Debian's ${DEBIAN_PACKAGE} package (apt-get install ${DEBIAN_PACKAGE}) or run the tests as root`);
  }
  console.log(`chromium not found: installing Debian's ${DEBIAN_PACKAGE} package (apt-get install -y ${DEBIAN_PACKAGE})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', DEBIAN_PACKAGE]]) {
    const result = spawnSync('apt-get', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.status !== 0) {
      const detail = (result.stderr || result.stdout || String(result.error ?? '')).trim().split('\n').slice(-3).join(' | ');
      throw new Error(`apt-get ${args.join(' ')} failed (exit ${String(result.status)}): ${detail}`);
    }
  }
  const installed = findChromium();
  if (installed === undefined) throw new Error(`apt-get installed ${DEBIAN_PACKAGE} but chromium is still not on PATH`);
  return installed;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromiumInstalled(), args: FLAGS, headless: true });
}

/** Where a test's screenshot goes (test-artifacts/, git-ignored), creating the folder. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return join(ARTIFACTS_DIR, name);
}

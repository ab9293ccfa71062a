/** Real headless Chromium (Debian's `chromium` package) driven by playwright-core; installed with apt-get when missing and root. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { ensureDebianPackage } from './debian.js';

const DEBIAN_PACKAGE = 'chromium';
/** Flags that keep a headless Chromium quiet and working as root in a container (see shared/design/toolchain.md). */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** The path of the chromium binary, installing Debian's package when it is missing and we may (root). */
export function ensureChromiumInstalled(): string {
  return ensureDebianPackage('chromium', DEBIAN_PACKAGE);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromiumInstalled(), args: FLAGS, headless: true });
}

/** Where a test's screenshot goes (test-artifacts/, git-ignored), creating the folder. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return join(ARTIFACTS_DIR, name);
}

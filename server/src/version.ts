/** The server's version, read once from its package.json (sent in the hello as `version`). */
import { readFileSync } from 'node:fs';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const SERVER_VERSION: string = packageJson.version;

/** A DeviceTokenStore in a JSON file readable by its owner only (`{ "<server>": "<device token>" }`), for Node programs. */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isPresentableDeviceToken, type DeviceTokenStore } from './device-tokens.js';

/** The file holds secrets: only its owner may read it (as ssh does for its keys). */
const FILE_MODE = 0o600;
/** A folder we create for it is private too, so nobody else can even list what is in it. */
const DIR_MODE = 0o700;

export interface FileDeviceTokenStoreOptions {
  /** Called when the file cannot be read (other than missing) or written; the login goes on without it either way. */
  readonly onError?: (error: Error) => void;
}

/**
 * Reads the file on every `get` and rewrites it whole on every `set`, through a private temporary file and a rename, so a
 * crash or a full disk never leaves half a file. Two logins racing to save lose one token (the other is kept), no more.
 */
export function fileDeviceTokenStore(path: string, options: FileDeviceTokenStoreOptions = {}): DeviceTokenStore {
  const report = (error: unknown): void => options.onError?.(error instanceof Error ? error : new Error(String(error)));
  const read = async (): Promise<Record<string, string>> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') report(error);
      return {};
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
      return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => isPresentableDeviceToken(entry[1])));
    } catch {
      // A damaged file is replaced at the next successful login; until then there is no token to present.
      return {};
    }
  };
  return {
    async get(server) {
      const tokens = await read();
      // An own key only: a server URL such as `__proto__` must not answer with an inherited value.
      return Object.hasOwn(tokens, server) ? tokens[server] : undefined;
    },
    async set(server, token) {
      const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
        const tokens = { ...(await read()), [server]: token };
        await writeFile(temporary, `${JSON.stringify(tokens, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
        // The mode given to writeFile is filtered by the umask; the file must be 0600 whatever the umask.
        await chmod(temporary, FILE_MODE);
        await rename(temporary, path);
      } catch (error) {
        await rm(temporary, { force: true }).catch(() => undefined);
        report(error);
      }
    },
  };
}

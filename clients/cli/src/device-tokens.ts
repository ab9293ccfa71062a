/** Where `flowgate login` keeps its device tokens: one private JSON file per OS user, keyed by the server's URL. */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileDeviceTokenStore, type DeviceTokenStore } from '@flowgate/client/node';

/** Set to 1 (or true, yes) to neither present nor keep a device token, like `--no-device-token`. */
export const NO_DEVICE_TOKEN_ENV = 'FLOWGATE_NO_DEVICE_TOKEN';

/** `$XDG_CONFIG_HOME/flowgate/device-tokens.json`, else `~/.config/flowgate/device-tokens.json` (the XDG base directory rules). */
export function deviceTokenPath(env: NodeJS.ProcessEnv = {}): string {
  const xdg = env['XDG_CONFIG_HOME'];
  // The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.config');
  return join(base, 'flowgate', 'device-tokens.json');
}

export function deviceTokensOptedOut(flag: boolean, env: NodeJS.ProcessEnv = {}): boolean {
  return flag || /^(1|true|yes)$/i.test(env[NO_DEVICE_TOKEN_ENV] ?? '');
}

/** The file store; a file that cannot be read or written is said once on stderr, and the login goes on without it. */
export function cliDeviceTokenStore(env: NodeJS.ProcessEnv | undefined, stderr: NodeJS.WritableStream): DeviceTokenStore {
  const path = deviceTokenPath(env);
  let warned = false;
  return fileDeviceTokenStore(path, {
    onError: (error) => {
      if (warned) return;
      warned = true;
      stderr.write(`flowgate login: warning: cannot use the device token file ${path} (${error.message}); set ${NO_DEVICE_TOKEN_ENV}=1 to stop using it\n`);
    },
  });
}

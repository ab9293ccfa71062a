/** Where a client keeps the device token (OWASP's device cookie) a server gave it, so that later logins can present it. */
import { MAX_TOKEN_LENGTH } from '@flowgate/shared';

/**
 * Keeps one device token per server. `server` is the client's `deviceTokenKey` (by default its URL). One token per
 * server, the most recent: the username is only known after the first form, but the token goes with `login_flow/init`,
 * and the server decides whom it trusts (a token of another user of this device is simply not trusted, never an error).
 * Either method may return a promise; a store that throws or rejects never fails a login (the token is only a help).
 */
export interface DeviceTokenStore {
  get(server: string): string | undefined | Promise<string | undefined>;
  set(server: string, token: string): void | Promise<void>;
}

/** The default store: a map that lives as long as the client (a long-running process keeps its device token). */
export function memoryDeviceTokenStore(): DeviceTokenStore {
  const tokens = new Map<string, string>();
  return {
    get: (server) => tokens.get(server),
    set: (server, token) => void tokens.set(server, token),
  };
}

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) a store needs. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The key prefix in web storage: `flowgate.device_token:<server>`. */
export const WEB_STORAGE_PREFIX = 'flowgate.device_token:';

/**
 * A store in web storage (a browser's `localStorage` is kept per origin, and the server is part of the key). Storage that
 * is disabled or full (private windows, quotas) answers nothing and keeps nothing, as if there were no device token.
 */
export function webStorageDeviceTokenStore(storage: StorageLike, prefix = WEB_STORAGE_PREFIX): DeviceTokenStore {
  return {
    get(server) {
      try {
        return storage.getItem(`${prefix}${server}`) ?? undefined;
      } catch {
        return undefined;
      }
    },
    set(server, token) {
      try {
        storage.setItem(`${prefix}${server}`, token);
      } catch {
        // Nothing to do: the next login is merely not trusted as this device's.
      }
    },
  };
}

/**
 * True for a value worth sending: a non-empty string the server's codec accepts. A store edited by hand (or a full
 * disk's truncated file) must not turn every later login into `invalid_format`.
 */
export function isPresentableDeviceToken(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TOKEN_LENGTH;
}

/**
 * The server's name in a store: the key given, else `url` when it is one URL, else the first of a list (the instances of
 * one deployment share their store, so a token from one is good on all); undefined for a function (the caller then uses
 * the URL of the connection the login runs on).
 */
export function deviceTokenKey(url: string | readonly string[] | ((attempt: number) => unknown), given?: string): string | undefined {
  if (given !== undefined) return given;
  if (typeof url === 'string') return url;
  return typeof url === 'function' ? undefined : url[0];
}

/** A client's device tokens: presents only tokens the server can decode, and a store that fails counts as an empty one. */
export class DeviceTokens {
  private readonly store: DeviceTokenStore | undefined;

  constructor(
    store: DeviceTokenStore | false | undefined,
    private readonly key: () => string | undefined,
  ) {
    this.store = store === false ? undefined : store ?? memoryDeviceTokenStore();
  }

  /** The token to send with `login_flow/init`, if this device has one for the server. */
  async present(): Promise<string | undefined> {
    const key = this.key();
    if (this.store === undefined || key === undefined) return undefined;
    try {
      const token = await this.store.get(key);
      return isPresentableDeviceToken(token) ? token : undefined;
    } catch {
      return undefined;
    }
  }

  /** Keeps the token an `auth/token` reply carried; a failure is swallowed (the login itself succeeded). */
  async keep(token: string): Promise<void> {
    const key = this.key();
    if (this.store === undefined || key === undefined || !isPresentableDeviceToken(token)) return;
    try {
      await this.store.set(key, token);
    } catch {
      // Without the token the next login is merely not trusted as this device's.
    }
  }
}

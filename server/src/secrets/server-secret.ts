/**
 * The server's secret (`secret_key`): its format, where it comes from (the config, FLOWGATE_SECRET_KEY, or a key file the
 * embedded store's deployment generates), and the keys derived from it. Nothing derived from it is ever stored, so a copy of
 * the store (a backup, an RDB file, a replica) signs no token and opens no sealed secret. tokens/, defense/ and mfa/ use it.
 */
import { createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as t from 'io-ts';
import { ConfigError } from '../config/error.js';
import { randomId } from '../crypto.js';

/** 256 bits: HMAC-SHA256's and AES-256's key size, and exactly what `openssl rand -base64 32` prints. */
export const SECRET_KEY_BYTES = 32;
/** The file the embedded store's deployment generates in its data folder when the config gives no `secret_key`. */
export const SECRET_KEY_FILE_NAME = 'secret.key';
/** Bytes of a fresh salt: RFC 5869 s3.1 recommends a salt as long as the hash's output. */
const SALT_BYTES = 32;
/** Derived keys are 32 bytes: HS256's full strength (RFC 7518 s3.2) and AES-256's key length. */
const DERIVED_KEY_BYTES = 32;

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters and one "=" of padding (optional here), in the standard or the URL-safe alphabet.
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}=?$/;

/** What a person is told a key looks like, wherever one is refused. */
export const SECRET_KEY_FORMAT = `${SECRET_KEY_BYTES} random bytes written as base64 or hex (e.g. the output of "openssl rand -base64 32")`;
/** How to make one, for the messages that ask for one. */
export const HOW_TO_MAKE_A_KEY =
  `make one with  openssl rand -base64 32  or  node -e "console.log(require('node:crypto').randomBytes(32).toString('base64'))"`;

/** The key's bytes, or null when `text` is not 32 bytes in base64 or hex. */
export function parseSecretKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (HEX_KEY.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (BASE64_KEY.test(trimmed)) return Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return null;
}

/**
 * A key in a config file: refused at load, its path named, unless it is a key `parseSecretKey` reads. The refusal never
 * repeats the value (io-ts's default "got ..." would): a mistyped key is still most of a key.
 */
export const SecretKeyText = new t.Type<string, string, unknown>(
  'secret key',
  (u): u is string => typeof u === 'string' && parseSecretKey(u) !== null,
  (u, c) => (typeof u === 'string' && parseSecretKey(u) !== null ? t.success(u) : t.failure(u, c, `must be ${SECRET_KEY_FORMAT}`)),
  t.identity,
);

/**
 * The key in `path`, generated there (base64, mode 0600, its folder 0700) on the first start. Written to a temporary file
 * and linked into place, so two processes starting at once (the server and the CLI) end up with the same key and neither
 * ever reads a half-written one. Startup only: it blocks.
 */
export function loadOrCreateKeyFile(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${randomId(6)}.tmp`;
    writeFileSync(temporary, `${randomBytes(SECRET_KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(temporary, path);
    } catch (error) {
      // Another process published its key first: both use that one.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(temporary);
    }
  }
  const key = parseSecretKey(readFileSync(path, 'utf8'));
  if (key === null) {
    throw new ConfigError(`The key file ${path} is damaged: it must hold ${SECRET_KEY_FORMAT}. Restore it from a backup; a new key cannot open the secrets already stored`);
  }
  return key;
}

/**
 * HKDF's `info` for each use of a derived key (RFC 5869 s3.2): keys for one purpose are unrelated to keys for another, even
 * from the same salt, so an access-token key is never a device-token key nor an encryption key.
 */
const PURPOSES = {
  accessToken: 'flowgate/v1 access-token signing key',
  deviceToken: 'flowgate/v1 device-token signing key',
  secretBox: 'flowgate/v1 secret box encryption key',
} as const;
export type KeyPurpose = keyof typeof PURPOSES;

/** A fresh random salt (hex), stored beside what it keys in place of the key itself. */
export const newKeySalt = (): string => randomBytes(SALT_BYTES).toString('hex');

/** The server's secret, held as a KeyObject (never logged, never stored); `derive` is the only thing it does. */
export class ServerSecret {
  #key: KeyObject | undefined;

  private constructor(private readonly load: () => Buffer) {}

  static fromKey(key: Buffer): ServerSecret {
    if (key.length !== SECRET_KEY_BYTES) throw new RangeError(`A secret key has ${SECRET_KEY_BYTES} bytes, not ${key.length}`);
    const secret = new ServerSecret(() => key);
    secret.#keyObject();
    return secret;
  }

  /**
   * A secret read on its first use: for the CLI, whose user commands revoke tokens but sign none, and so must work where the
   * shell lacks FLOWGATE_SECRET_KEY. A load that fails is retried at the next use.
   */
  static deferred(load: () => ServerSecret): ServerSecret {
    return new ServerSecret(() => load().#keyBytes());
  }

  /** HKDF-SHA256 of the secret with `salt` and the purpose's `info`: a 32-byte key, the same on every instance sharing the secret. */
  derive(purpose: KeyPurpose, salt: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#keyObject(), salt, PURPOSES[purpose], DERIVED_KEY_BYTES));
  }

  #keyObject(): KeyObject {
    this.#key ??= createSecretKey(this.load());
    return this.#key;
  }

  #keyBytes(): Buffer {
    return this.#keyObject().export();
  }
}

/** Where the server secret comes from: the config (with the environment already applied), and the kind of store. */
export interface ServerSecretSource {
  /** `secret_key` or FLOWGATE_SECRET_KEY as written, unchecked (Config.secretKey). */
  readonly secretKey: string | undefined;
  /** True when several instances share the store (Redis): a key generated here would not be theirs. */
  readonly sharedStore: boolean;
  /** The embedded store's folder, where its deployment keeps a generated key. */
  readonly dataDir: string;
}

/**
 * The configured secret; with the embedded store and none configured, the one generated into the data folder on the first
 * start. Refused with a ConfigError that says what to do: a key that is not 32 bytes, or no key with a shared store.
 */
export function loadServerSecret(source: ServerSecretSource): ServerSecret {
  if (source.secretKey !== undefined) {
    const key = parseSecretKey(source.secretKey);
    if (key === null) throw new ConfigError(`secret_key (or FLOWGATE_SECRET_KEY) must be ${SECRET_KEY_FORMAT}: ${HOW_TO_MAKE_A_KEY}`);
    return ServerSecret.fromKey(key);
  }
  if (source.sharedStore) {
    throw new ConfigError(
      'secret_key is required with a shared store (Redis): every signing key is derived from it, so set the same secret_key at ' +
        `the top of the config file (or FLOWGATE_SECRET_KEY) on every instance, and keep it out of the store's backups. It is ${SECRET_KEY_FORMAT}: ${HOW_TO_MAKE_A_KEY}`,
    );
  }
  return ServerSecret.fromKey(loadOrCreateKeyFile(join(source.dataDir, SECRET_KEY_FILE_NAME)));
}

/** Secrets kept encrypted at rest (AES-256-GCM): the key's config format, sealing and opening, and a generated key file. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as t from 'io-ts';
import { randomId } from '../crypto.js';
import { ConfigError } from '../config/error.js';

/** AES-256 takes a 32-byte key: exactly what `openssl rand -base64 32` prints. */
export const SECRET_KEY_BYTES = 32;
/**
 * GCM's standard 96-bit nonce, random for each sealed value: NIST SP 800-38D allows 2^32 random nonces per key, far more
 * secrets than a deployment ever seals (one per setup flow and user).
 */
const IV_BYTES = 12;
/** GCM's full 128-bit tag: a shorter one makes forgeries easier, and the bytes saved do not matter. */
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters and one "=" of padding (optional here), in the standard or the URL-safe alphabet.
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=?$|^[A-Za-z0-9_-]{43}=?$/;

/** What a person is told a key looks like, wherever one is refused. */
export const SECRET_KEY_FORMAT = `${SECRET_KEY_BYTES} random bytes written as base64 or hex (e.g. the output of "openssl rand -base64 32")`;

/** The key's bytes, or null when `text` is not 32 bytes in base64 or hex. */
export function parseSecretKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (HEX_KEY.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (BASE64_KEY.test(trimmed)) return Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return null;
}

/**
 * A `secret_key` config value: refused at load, its path named, unless it is a key `parseSecretKey` reads. The refusal never
 * repeats the value (io-ts's default "got ..." would): a mistyped key is still most of a key.
 */
export const SecretKeyText = new t.Type<string, string, unknown>(
  'secret key',
  (u): u is string => typeof u === 'string' && parseSecretKey(u) !== null,
  (u, c) => (typeof u === 'string' && parseSecretKey(u) !== null ? t.success(u) : t.failure(u, c, `must be ${SECRET_KEY_FORMAT}`)),
  t.identity,
);

/** A sealed value as stored (JSON fields, base64): a fresh IV, the ciphertext and GCM's tag. */
export const SealedValue = t.type({ iv: t.string, ciphertext: t.string, tag: t.string });
export type SealedValue = t.TypeOf<typeof SealedValue>;

/**
 * Seals and opens short secrets with one key. Every value is bound to a `context` string (GCM's associated data, e.g. the
 * user and module it belongs to), so a sealed value copied to another user's record in the store does not open there.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== SECRET_KEY_BYTES) throw new RangeError(`A secret key has ${SECRET_KEY_BYTES} bytes, not ${key.length}`);
    this.key = Buffer.from(key);
  }

  seal(plaintext: string, context: string): SealedValue {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  /** The plaintext, or null when the value was sealed with another key or context, or was altered: it fails closed. */
  open(sealed: SealedValue, context: string): string | null {
    const iv = Buffer.from(sealed.iv, 'base64');
    const tag = Buffer.from(sealed.tag, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      // Node throws "Unsupported state or unable to authenticate data" for a wrong key, context or tag alike.
      return null;
    }
  }
}

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

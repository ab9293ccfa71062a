/**
 * Secrets kept encrypted at rest (AES-256-GCM): sealing and opening, and which key a module seals with (the server's
 * `secret_key` by default, secrets/server-secret.ts, so that there is one secret to manage).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as t from 'io-ts';
import { ConfigError } from '../config/error.js';
import { SECRET_KEY_BYTES, SECRET_KEY_FORMAT, loadOrCreateKeyFile, parseSecretKey, type ServerSecret } from '../secrets/server-secret.js';

/**
 * GCM's standard 96-bit nonce, random for each sealed value: NIST SP 800-38D allows 2^32 random nonces per key, far more
 * secrets than a deployment ever seals (one per setup flow and user).
 */
const IV_BYTES = 12;
/** GCM's full 128-bit tag: a shorter one makes forgeries easier, and the bytes saved do not matter. */
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

/** Where a module's sealing key may come from besides the server's secret. */
export interface SealingKeySource {
  /** Names the module in errors: `the totp module "totp"`. */
  readonly owner: string;
  /** The module's own `secret_key`, from configs written before the server-wide one: its secrets are sealed with it. */
  readonly ownKey: string | undefined;
  /** A key file the module generated in the data folder before (embedded store only), for the same reason; null for none. */
  readonly legacyKeyFile: string | null;
  /** HKDF's salt for the derived key: the module type, so that two kinds of module never share a key. */
  readonly salt: string;
  readonly serverSecret: ServerSecret;
}

/**
 * The key a module seals with: its own `secret_key` when configured, else the key file it generated before, else a key derived
 * from the server's secret. The first two keep the secrets sealed before the server secret existed readable.
 */
export function sealingKey(source: SealingKeySource): Buffer {
  if (source.ownKey !== undefined) {
    const key = parseSecretKey(source.ownKey);
    if (key === null) throw new ConfigError(`mfa_modules: ${source.owner} has a secret_key that is not ${SECRET_KEY_FORMAT}`);
    return key;
  }
  if (source.legacyKeyFile !== null && existsSync(source.legacyKeyFile)) return loadOrCreateKeyFile(source.legacyKeyFile);
  return source.serverSecret.derive('secretBox', source.salt);
}

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

/** The configuration error, apart from the config loader so that plugins (MFA modules) it loads can raise it without a cycle. */

/** Raised for any configuration problem; its message is one line a person can act on. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

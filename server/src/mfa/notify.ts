/** `notify`: one-time codes sent by a webhook or an e-mail (Home Assistant's notify module), every code kept only hashed. */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { isLeft, isRight } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { hotp } from 'otplib';
import { MfaModuleId } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { constantTimeEqual, randomId } from '../crypto.js';
import { ServiceError } from '../errors.js';
import { AbortFlow, abort, createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { MfaCodePurpose } from '../observability/metrics.js';
import type { JsonObject } from '../store/types.js';
import type { MfaModule, MfaModuleDependencies, MfaModuleFactory, MfaSetupContext } from './module.js';
import { moduleIdentity } from './module.js';
import { MAX_TARGET_LENGTH, NotifyError, SmtpConfig, WebhookConfig, smtpNotifier, webhookNotifier, type Notifier } from './notifiers.js';
import { LOGIN_CODES_PER_USER, SETUP_MESSAGES_PER_USER, capSets, countSend, type SendCap } from './user-caps.js';

export const NOTIFY_MODULE_TYPE = 'notify';
export const DEFAULT_NOTIFY_NAME = 'Code by message';
export const DEFAULT_NOTIFY_MESSAGE = '{code} is your Flowgate login code';
/** How long a login code is taken after it was sent (Home Assistant's MFA session: 5 minutes). */
export const CODE_TTL_MS = 5 * 60 * 1000;
/** Wrong codes before a login (or a setup) gives up: HA's default for every module but TOTP. */
export const NOTIFY_MAX_RETRIES = 3;
/** HOTP's default: six digits, so 3 tries out of a million per login; the login limits bound the logins. */
const CODE_DIGITS = 6;
/** A fresh HOTP key per code, as long as SHA-1's block output (RFC 4226 s4 asks for at least 128 bits, recommends 160). */
const HOTP_SECRET_BYTES = 20;
/** Salt per code, so a leaked flow state gives a hash that must be brute-forced on its own (a million tries, not a lookup). */
const SALT_BYTES = 16;
/** A code is digits; a little room for what people paste around them (spaces, a dash), then the form refuses. */
const MAX_CODE_INPUT_LENGTH = 32;
/** Where the message puts the code: `{code}`, or Home Assistant's `{}`. */
const CODE_PLACEHOLDERS = ['{code}', '{}'] as const;

const MessageTemplate = t.refinement(
  t.string,
  (s) => CODE_PLACEHOLDERS.some((placeholder) => s.includes(placeholder)),
  'a message with {code} where the code goes',
);

const NotifyFields = closedObject(
  'notify MFA module',
  { type: t.literal(NOTIFY_MODULE_TYPE) },
  { id: MfaModuleId, name: t.string, message: MessageTemplate, webhook: WebhookConfig, smtp: SmtpConfig },
);
type NotifyFields = t.TypeOf<typeof NotifyFields>;

/** The notify config: the common keys, the message, and exactly one notifier, `webhook` or `smtp` (said plainly when not). */
export const NotifyConfig = new t.Type<NotifyFields, NotifyFields, unknown>(
  'notify MFA module',
  (u): u is NotifyFields => NotifyFields.is(u) && (u.webhook === undefined) !== (u.smtp === undefined),
  (u, c) => {
    const decoded = NotifyFields.validate(u, c);
    if (isLeft(decoded)) return decoded;
    const { webhook, smtp } = decoded.right;
    if (webhook === undefined && smtp === undefined) {
      return t.failure(u, c, 'say how codes are sent: add `webhook: {url: ...}` or `smtp: {host: ..., port: ..., from: ...}`');
    }
    if (webhook !== undefined && smtp !== undefined) {
      return t.failure(u, c, 'give one way to send codes, `webhook` or `smtp`, not both (configure two notify modules, each with its own id, for both)');
    }
    return t.success(decoded.right);
  },
  t.identity,
);
export type NotifyConfig = t.TypeOf<typeof NotifyConfig>;

/** For tests: a clock and a code lifetime, so an expired code is tested without waiting 5 minutes. */
export interface NotifyOptions {
  readonly now?: () => number;
  readonly codeTtlMs?: number;
}

/** What a login keeps in its flow state between sending the code and checking it: never the code itself. */
const LoginState = t.type({ code_hash: t.string, salt: t.string, expires_at: t.number });
/** The user's settings in the store. */
const NotifySetting = t.type({ target: t.string });

type SetupState = { target: string | null; code_hash: string | null; salt: string | null; wrong: number };

const TargetForm = defineForm({ target: field.string('target', { lengthMax: MAX_TARGET_LENGTH }) });
// Not required, as in HA: an empty answer is a wrong code (and counts), not a form error.
const CodeForm = defineForm({ code: field.string('code', { required: false, lengthMax: MAX_CODE_INPUT_LENGTH }) });

/**
 * A 6-digit HOTP code (RFC 4226, as the issue and HA use) from a fresh random key and counter: nothing of it is kept, so each
 * code is as unpredictable as the key, and only its salted hash says what it was.
 */
const HOTP = hotp.clone({ digits: CODE_DIGITS });
function newCode(): string {
  return HOTP.generate(randomBytes(HOTP_SECRET_BYTES).toString('hex'), randomInt(0, 2 ** 32));
}

const hashCode = (salt: string, code: string): string => createHash('sha256').update(`${salt}:${code}`, 'utf8').digest('hex');

/** What a person typed, as the code it may be: spaces and dashes people add for reading are dropped. */
const typedCode = (input: unknown): string => (typeof input === 'string' ? input.replace(/[\s-]/g, '') : '');

/** Each purpose's per-user cap, its lease set, and the refusal a person reads past it. */
const SEND_CAPS: Readonly<Record<MfaCodePurpose, { cap: SendCap; set: (userId: string) => string; refusal: (wait: string) => string }>> = {
  login: {
    cap: LOGIN_CODES_PER_USER,
    set: capSets.loginCodes,
    refusal: (wait) =>
      `${LOGIN_CODES_PER_USER.limit} login codes were sent for this account in the last ${LOGIN_CODES_PER_USER.windowMs / 60_000} minutes, ` +
      `the most allowed; try again in ${wait}`,
  },
  setup: {
    cap: SETUP_MESSAGES_PER_USER,
    set: capSets.setupMessages,
    refusal: (wait) =>
      `${SETUP_MESSAGES_PER_USER.limit} set-up messages were sent for this account in the last hour, the most allowed; try again in ${wait}`,
  },
};

/** The config's one notifier (the codec made sure there is exactly one). */
function notifierFor(config: NotifyConfig): Notifier {
  if (config.webhook !== undefined) return webhookNotifier(config.webhook);
  if (config.smtp !== undefined) return smtpNotifier(config.smtp);
  throw new Error('notify module: neither webhook nor smtp configured');
}

function missingLeases(id: string): never {
  throw new Error(`notify module ${id}: created without the store's lease sets, which bound the messages it sends`);
}

export function createNotifyModule(config: NotifyConfig, dependencies: MfaModuleDependencies, options: NotifyOptions = {}): MfaModule {
  const { id, name } = moduleIdentity(config, DEFAULT_NOTIFY_NAME);
  const { store, onCodeMessage } = dependencies;
  // Without them every password holder (and every session) could have a message sent per flow: no module rather than that.
  const leases = dependencies.leases ?? missingLeases(id);
  const now = options.now ?? Date.now;
  const codeTtlMs = options.codeTtlMs ?? CODE_TTL_MS;
  const template = config.message ?? DEFAULT_NOTIFY_MESSAGE;
  const notifier = notifierFor(config);

  /**
   * Makes a code, delivers it, and answers its salted hash: the code leaves this function only towards the target. Counted
   * first against the user's cap for `purpose` (every instance shares it): past it, throws `rate_limited` and sends nothing.
   */
  async function sendCode(userId: string, purpose: MfaCodePurpose, target: string): Promise<{ code_hash: string; salt: string }> {
    const { cap, set, refusal } = SEND_CAPS[purpose];
    try {
      await countSend(leases, set(userId), cap, refusal);
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'rate_limited') onCodeMessage?.(purpose, 'refused');
      throw error;
    }
    const code = newCode();
    const message = CODE_PLACEHOLDERS.reduce((text, placeholder) => text.replaceAll(placeholder, code), template);
    try {
      await notifier.send({ message, target, code });
    } catch (error) {
      onCodeMessage?.(purpose, 'failed', error);
      throw error;
    }
    onCodeMessage?.(purpose, 'sent');
    const salt = randomId(SALT_BYTES);
    return { code_hash: hashCode(salt, code), salt };
  }

  const codeMatches = (typed: string, hashed: { code_hash: string; salt: string }): boolean =>
    constantTimeEqual(hashCode(hashed.salt, typed), hashed.code_hash);

  async function targetOf(userId: string): Promise<string | null> {
    const setting = await store.getMfaSetting(userId, id);
    if (setting === null) return null;
    const decoded = NotifySetting.decode(setting.data);
    return isRight(decoded) ? decoded.right.target : null;
  }

  const setupFlow = defineFlowHandler<SetupState, 'setup', MfaSetupContext>({
    key: [id, null],
    initialState: () => ({ target: null, code_hash: null, salt: null, wrong: 0 }),
    steps: {
      init: async ({ input, state, context }) => {
        if (input === undefined) return showForm('init', TargetForm.dataSchema, state);
        const target = TargetForm.read(input).target.trim();
        if (!notifier.validTarget(target)) {
          return showForm('init', TargetForm.dataSchema, state, { errors: { target: 'invalid_target' } });
        }
        let sent: { code_hash: string; salt: string };
        try {
          sent = await sendCode(context.userId, 'setup', target);
        } catch (error) {
          if (error instanceof NotifyError) throw new AbortFlow('unknown_error');
          throw error;
        }
        return showForm('setup', CodeForm.dataSchema, { ...state, target, ...sent }, { descriptionPlaceholders: { target } });
      },
      setup: async ({ input, state }) => {
        const { target, code_hash, salt } = state;
        if (target === null || code_hash === null || salt === null) return abort('unknown_error');
        const shown = { descriptionPlaceholders: { target } };
        if (input === undefined) return showForm('setup', CodeForm.dataSchema, state, shown);
        if (codeMatches(typedCode(CodeForm.read(input).code), { code_hash, salt })) return createEntry({ target });
        // No resend on a wrong code (as HA's login); a 6-digit code may not be guessed at leisure either.
        const wrong = state.wrong + 1;
        if (wrong >= NOTIFY_MAX_RETRIES) return abort('too_many_retry');
        return showForm('setup', CodeForm.dataSchema, { ...state, wrong }, { ...shown, errors: { base: 'invalid_code' } });
      },
    },
  });

  return {
    type: NOTIFY_MODULE_TYPE,
    id,
    name,
    inputSchema: CodeForm.dataSchema,
    maxRetries: NOTIFY_MAX_RETRIES,
    setupFlow,

    async setupUser(userId, data) {
      const decoded = NotifySetting.decode(data);
      if (isLeft(decoded)) throw new Error(`notify module ${id}: the setup flow finished without a target`);
      await store.putMfaSetting(userId, id, { target: decoded.right.target });
      return {};
    },

    async deposeUser(userId) {
      await store.deleteMfaSetting(userId, id);
    },

    async isUserSetup(userId) {
      return (await targetOf(userId)) !== null;
    },

    async beginLogin(userId): Promise<JsonObject> {
      const target = await targetOf(userId);
      if (target === null) throw new Error(`notify module ${id}: the user has no target set up`);
      return { ...(await sendCode(userId, 'login', target)), expires_at: now() + codeTtlMs };
    },

    async validate(userId, input, loginState) {
      const state = LoginState.decode(loginState);
      if (isLeft(state) || now() > state.right.expires_at) return false;
      // The hash is checked first, the same work for every answer; then a user who turned the module off meanwhile is refused.
      return codeMatches(typedCode(input['code']), state.right) && (await targetOf(userId)) !== null;
    },
  };
}

export const notifyModule: MfaModuleFactory<NotifyConfig> = {
  type: NOTIFY_MODULE_TYPE,
  configCodec: NotifyConfig,
  create: (config, dependencies) => createNotifyModule(config, dependencies),
};

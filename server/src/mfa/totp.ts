/** `totp`: codes from an authenticator app (RFC 6238, Home Assistant's totp module), the secret sealed at rest, each code used once. */
import { join } from 'node:path';
import { isRight } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { authenticator } from 'otplib';
import QRCode from 'qrcode';
import type { StringMap } from '@flowgate/shared';
import { closedObject } from '../codec.js';
import { constantTimeEqual } from '../crypto.js';
import { abort, createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { JsonObject } from '../store/types.js';
import { moduleIdentity, type MfaModule, type MfaModuleDependencies, type MfaModuleFactory, type MfaSetupContext } from './module.js';
import { SecretKeyText } from '../secrets/server-secret.js';
import { SealedValue, SecretBox, sealingKey } from './secret-box.js';

export const TOTP_MODULE_TYPE = 'totp';
export const DEFAULT_TOTP_NAME = 'Authenticator app';
/** The label authenticator apps show above the code; HA writes "Home Assistant". */
export const DEFAULT_TOTP_ISSUER = 'Flowgate';
/** Wrong codes before the login aborts with `too_many_retry`: Home Assistant's `TotpAuthModule.MAX_RETRY_TIME`. */
export const TOTP_MAX_RETRIES = 5;
/**
 * The key file earlier versions generated in the data folder when the config gave no `secret_key` (embedded store only): still
 * used where it exists, since the secrets stored then are sealed with it. New deployments use the server's secret_key.
 */
export const TOTP_KEY_FILE_NAME = 'totp-secret.key';

/** RFC 6238's default time step, the one every authenticator app assumes when the URI gives no other. */
const STEP_SECONDS = 30;
/** RFC 6238's 6 digits (RFC 4226 s5.3's minimum), what the apps show. otplib's default hash is SHA-1, as the apps assume. */
const DIGITS = 6;
/** Steps accepted either side of now at login: a phone's clock slightly off, or a code typed as it changed (HA's `valid_window=1`). */
const LOGIN_WINDOW_STEPS = 1;
/** None at setup (HA, core issue #181369): the code just read off the new entry proves the app holds this very secret, now. */
const SETUP_WINDOW_STEPS = 0;
/** 160 bits, RFC 4226 s4's recommended secret length: 32 base32 characters, what the apps expect. */
const SECRET_BYTES = 20;

const otp = authenticator.clone({ step: STEP_SECONDS, digits: DIGITS, window: 0 });

export const TotpConfig = closedObject(
  'totp MFA module',
  { type: t.literal(TOTP_MODULE_TYPE) },
  {
    id: t.string,
    name: t.string,
    /** The `issuer` of the otpauth URI: the name the user's app files the entry under. */
    issuer: t.string,
    /**
     * Encrypts the stored secrets: 32 random bytes, base64 or hex. Optional: by default the key is derived from the server's
     * top-level secret_key; kept for configs written before it, whose stored secrets are sealed with this one.
     */
    secret_key: SecretKeyText,
  },
);
export type TotpConfig = t.TypeOf<typeof TotpConfig>;

/**
 * A user's TOTP setting in the store: the sealed secret and the last time step a login used (null before the first), so
 * a code is taken once only (RFC 6238 s5.2), on any instance: it moves forward by compare-and-set on the setting's revision.
 */
const TotpSetting = t.type({ secret: SealedValue, last_step: t.union([t.number, t.null]) });
type TotpSetting = t.TypeOf<typeof TotpSetting>;

/** The setup flow's `create_entry` data, for `setupUser`: the secret the user's app proved it holds, sealed for this user. */
const SetupEntry = t.type({ secret: SealedValue, step: t.number });

/** The setup flow's state, sealed too: flow records sit in the store as readable as users' settings. */
type SetupState = { secret: SealedValue | null };

const CodeForm = defineForm({ code: field.string('code') });

export interface TotpOptions {
  /** The clock (ms since the epoch); tests fix it so that codes never straddle a step boundary. */
  readonly now?: () => number;
}

/** The time step (RFC 6238's T) at `ms`. */
function timeStep(ms: number): number {
  return Math.floor(ms / 1000 / STEP_SECONDS);
}

function codeAt(secret: string, step: number): string {
  return otp.clone({ epoch: step * STEP_SECONDS * 1000 }).generate(secret);
}

/** Every step within `window` of `center` whose code is `code`, each compared in constant time and all of them computed. */
function matchingSteps(secret: string, code: string, center: number, window: number): number[] {
  const matches: number[] = [];
  for (let step = center - window; step <= center + window; step += 1) {
    if (constantTimeEqual(codeAt(secret, step), code)) matches.push(step);
  }
  return matches;
}

/** What a person types: apps show "123 456", so spaces are dropped. */
function typedCode(input: Readonly<Record<string, unknown>>): string {
  const code = input['code'];
  return typeof code === 'string' ? code.replace(/\s+/g, '') : '';
}

/** Which key seals the secrets: the module's own, else the key file an earlier version generated, else the server's secret. */
function moduleKey(config: TotpConfig, dependencies: MfaModuleDependencies, id: string): Buffer {
  return sealingKey({
    owner: `the totp module "${id}"`,
    ownKey: config.secret_key,
    // A shared store never had a generated key: the module's secret_key was required there.
    legacyKeyFile: dependencies.sharedStore ? null : join(dependencies.dataDir, TOTP_KEY_FILE_NAME),
    salt: TOTP_MODULE_TYPE,
    serverSecret: dependencies.serverSecret,
  });
}

export function createTotpModule(config: TotpConfig, dependencies: MfaModuleDependencies, options: TotpOptions = {}): MfaModule {
  const { id, name } = moduleIdentity(config, DEFAULT_TOTP_NAME);
  const issuer = config.issuer ?? DEFAULT_TOTP_ISSUER;
  const box = new SecretBox(moduleKey(config, dependencies, id));
  const now = options.now ?? Date.now;
  const { store } = dependencies;
  // Checked when the user has no setting, so that the answer takes as long as for one who has (HA's DUMMY_SECRET).
  const dummySecret = otp.generateSecret(SECRET_BYTES);

  // GCM's associated data: a sealed secret opens only for the module, user (and setup flow) it was sealed for.
  const settingContext = (userId: string) => JSON.stringify(['totp-setting', id, userId]);
  const setupContext = (flowId: string, userId: string) => JSON.stringify(['totp-setup', id, flowId, userId]);

  async function setupPlaceholders(secret: string, account: string): Promise<StringMap> {
    const url = otp.keyuri(account, issuer, secret);
    const svg = await QRCode.toString(url, { type: 'svg' });
    // Inline SVG in a page must not carry an XML declaration (HA strips it too).
    return { code: secret, url, qr_code: svg.replace(/^<\?xml[^>]*\?>\s*/, '') };
  }

  // The secret is shown through `describe`, worked out from the sealed state at each display (a client resuming on another
  // instance gets it too) and never stored with the flow: the store only ever holds it sealed.
  const setupFlow = defineFlowHandler<SetupState, 'init', MfaSetupContext>({
    key: [id, null],
    initialState: () => ({ secret: null }),
    describe: async ({ flowId, state, context }) => {
      const secret = state.secret === null ? null : box.open(state.secret, setupContext(flowId, context.userId));
      return secret === null ? null : setupPlaceholders(secret, context.userName);
    },
    steps: {
      init: async ({ flowId, state, context, input }) => {
        const sealedFor = setupContext(flowId, context.userId);
        if (input === undefined || state.secret === null) {
          const secret = otp.generateSecret(SECRET_BYTES);
          return showForm('init', CodeForm.dataSchema, { secret: box.seal(secret, sealedFor) });
        }
        const secret = box.open(state.secret, sealedFor);
        // Only when the key changed while the flow was open: the QR code shown is no longer one we can check.
        if (secret === null) return abort('unknown_error');
        const [step] = matchingSteps(secret, typedCode(CodeForm.read(input)), timeStep(now()), SETUP_WINDOW_STEPS);
        if (step === undefined) return showForm('init', CodeForm.dataSchema, state, { errors: { base: 'invalid_code' } });
        // The setup's code is used too: it does not log in again (RFC 6238 s5.2), the next one does.
        return createEntry({ secret: box.seal(secret, settingContext(context.userId)), step });
      },
    },
  });

  /** The step `code` may use: in the login window and later than the last one used (the smallest such, if several). */
  function usableStep(secret: string, code: string, setting: TotpSetting): number | null {
    const steps = matchingSteps(secret, code, timeStep(now()), LOGIN_WINDOW_STEPS);
    const unused = steps.filter((step) => setting.last_step === null || step > setting.last_step);
    return unused[0] ?? null;
  }

  /** One read, check and compare-and-set: true when the code was right and is now used, null when another write came first. */
  async function tryUse(userId: string, code: string): Promise<boolean | null> {
    const stored = await store.getMfaSetting(userId, id);
    const decoded = stored === null ? null : TotpSetting.decode(stored.data);
    const setting = decoded !== null && isRight(decoded) ? decoded.right : null;
    // A wrong key or an altered record opens nothing: the code is refused, never checked against something else.
    const secret = setting === null ? null : box.open(setting.secret, settingContext(userId));
    if (stored === null || setting === null || secret === null) {
      matchingSteps(dummySecret, code, timeStep(now()), LOGIN_WINDOW_STEPS);
      return false;
    }
    const step = usableStep(secret, code, setting);
    if (step === null) return false;
    const used: TotpSetting = { secret: setting.secret, last_step: step };
    return (await store.putMfaSetting(userId, id, used, stored.revision)) ? true : null;
  }

  return {
    type: TOTP_MODULE_TYPE,
    id,
    name,
    inputSchema: CodeForm.dataSchema,
    maxRetries: TOTP_MAX_RETRIES,
    setupFlow,

    async setupUser(userId: string, data: JsonObject): Promise<JsonObject> {
      const entry = SetupEntry.decode(data);
      if (!isRight(entry) || box.open(entry.right.secret, settingContext(userId)) === null) {
        throw new Error(`The totp module "${id}" was handed setup data that its own setup flow did not make for this user`);
      }
      // Setting up again replaces the secret (HA does the same): the old app entry stops working at once.
      const setting: TotpSetting = { secret: entry.right.secret, last_step: entry.right.step };
      await store.putMfaSetting(userId, id, setting);
      // HA answers {"result": secret}. The secret was shown once, in the setup form; a second copy in the flow's end would
      // be one more place for it to leak (client logs, caches), so the client gets nothing back.
      return {};
    },

    async deposeUser(userId: string): Promise<void> {
      await store.deleteMfaSetting(userId, id);
    },

    async isUserSetup(userId: string): Promise<boolean> {
      return (await store.getMfaSetting(userId, id)) !== null;
    },

    async validate(userId: string, input: Readonly<Record<string, unknown>>): Promise<boolean> {
      const code = typedCode(input);
      const first = await tryUse(userId, code);
      if (first !== null) return first;
      // Another login used a code of this user between our read and write: check again against what it wrote, once
      // (if that was this same code, its step is now used and the answer is false).
      return (await tryUse(userId, code)) ?? false;
    },
  };
}

export const totpModule = {
  type: TOTP_MODULE_TYPE,
  configCodec: TotpConfig,
  create: (config: TotpConfig, dependencies: MfaModuleDependencies) => createTotpModule(config, dependencies),
} satisfies MfaModuleFactory<TotpConfig>;

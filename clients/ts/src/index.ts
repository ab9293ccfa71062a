/** @flowgate/client: a typed Flowgate client for browsers (global WebSocket) and Node (see `@flowgate/client/node`). */
export {
  FlowgateClient,
  type BackoffOptions,
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  type StopReason,
  type Tokens,
  type UrlSource,
} from './client.js';
export type { WebSocketConstructor, WebSocketLike } from './connection.js';
export * from './errors.js';
export type { AnswerContext, LoginCode, LoginOptions, LoginResult, ReauthenticationOptions } from './login.js';
export { mfaLoginStep, MfaSetupResult, type MfaLoginStep, type MfaSetupOptions } from './mfa.js';
export { describeUserError, isAdminUser, UserAdmin, type CommandSender, type NewPasswordUser, type NewUser, type UserChanges } from './users.js';
export { describeFieldError, describeAbortReason, describeFormErrors, describeRateLimit, describeWait } from './messages.js';
export {
  isPresentableDeviceToken,
  memoryDeviceTokenStore,
  webStorageDeviceTokenStore,
  WEB_STORAGE_PREFIX,
  type DeviceTokenStore,
  type StorageLike,
} from './device-tokens.js';
export type {
  FormResult,
  FlowResult,
  SchemaField,
  DataSchema,
  CurrentUser,
  RefreshTokenInfo,
  ProviderInfo,
  MfaSetupEntry,
  UserMfaModule,
  UserInfo,
  GroupId,
} from '@flowgate/shared';
export { MFA_MODULE_FIELD, MFA_STEP_IDS, GROUP_ID_ADMIN, GROUP_ID_USER, GROUP_ID_READ_ONLY, MAX_USER_INPUT_STRING_LENGTH } from '@flowgate/shared';

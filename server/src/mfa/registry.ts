/** Every MFA module type Flowgate knows, by the `type` a config's `mfa_modules` entry names it with. */
import type { MfaModuleFactory } from './module.js';
import { notifyModule } from './notify.js';
import { recoveryModule } from './recovery.js';
import { totpModule } from './totp.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each factory has its own config type; the registry only routes by `type`
export const MFA_MODULE_FACTORIES: Readonly<Record<string, MfaModuleFactory<any>>> = {
  [notifyModule.type]: notifyModule,
  [recoveryModule.type]: recoveryModule,
  [totpModule.type]: totpModule,
};

export function mfaModuleFactory(type: string): MfaModuleFactory<{ type: string }> | undefined {
  return Object.hasOwn(MFA_MODULE_FACTORIES, type) ? MFA_MODULE_FACTORIES[type] : undefined;
}

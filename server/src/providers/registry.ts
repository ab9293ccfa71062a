/** Every auth provider type Flowgate knows, by the `type` a config names it with. */
import type { ProviderFactory } from './provider.js';
import { commandLineProvider } from './command-line.js';
import { insecureExample } from './insecure-example.js';
import { passwordProvider } from './password.js';
import { trustedNetworksProvider } from './trusted-networks.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each factory has its own config type; the registry only routes by `type`
export const PROVIDER_FACTORIES: Readonly<Record<string, ProviderFactory<any>>> = {
  [insecureExample.type]: insecureExample,
  [passwordProvider.type]: passwordProvider,
  [trustedNetworksProvider.type]: trustedNetworksProvider,
  [commandLineProvider.type]: commandLineProvider,
};

export function providerFactory(type: string): ProviderFactory<{ type: string }> | undefined {
  return Object.hasOwn(PROVIDER_FACTORIES, type) ? PROVIDER_FACTORIES[type] : undefined;
}

export type { AuthProvider, ProviderFactory, UserMeta } from './provider.js';

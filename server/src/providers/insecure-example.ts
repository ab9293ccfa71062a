/** `insecure_example`: the seed's example provider, with users and plain passwords listed in the config (for demos and tests). */
import * as t from 'io-ts';
import { closedObject } from '../codec.js';
import { digest, sameDigest } from '../crypto.js';
import { createEntry, defineFlowHandler, defineForm, field, showForm } from '../flow/index.js';
import type { Credential, JsonObject } from '../store/types.js';
import type { ProviderFactory } from './provider.js';

const ExampleUser = closedObject('insecure_example user', { username: t.string, password: t.string }, { name: t.string });

export const InsecureExampleConfig = closedObject(
  'insecure_example provider',
  { type: t.literal('insecure_example'), users: t.array(ExampleUser) },
  { id: t.union([t.string, t.null]), name: t.string },
);
export type InsecureExampleConfig = t.TypeOf<typeof InsecureExampleConfig>;

const LoginForm = defineForm({ username: field.string('username'), password: field.string('password') });

/** One digest per login: the username's length first, so that no other pair of username and password spells the same text. */
const loginDigest = (username: string, password: string): Buffer => digest(`${username.length}:${username}${password}`);

export const insecureExample: ProviderFactory<InsecureExampleConfig> = {
  type: 'insecure_example',
  configCodec: InsecureExampleConfig,
  create(config, { store }) {
    const id = config.id ?? null;
    const users = config.users;

    // Each configured login is digested once; a step digests what it was given once and compares those 32 bytes with each.
    const accounts = users.map((user) => loginDigest(user.username, user.password));

    /** Compares against every user without stopping early, so the answer's timing says nothing about which part was wrong. */
    function validLogin(username: string, password: string): boolean {
      const given = loginDigest(username, password);
      let match = false;
      for (const account of accounts) match = sameDigest(account, given) || match;
      return match;
    }

    return {
      type: 'insecure_example',
      id,
      name: config.name ?? 'Example accounts',
      loginFlow: defineFlowHandler<JsonObject, 'init'>({
        key: ['insecure_example', id],
        initialState: () => ({}),
        // A digest compare and nothing else: a run may be thrown away and run again.
        rerunnable: true,
        steps: {
          init: async ({ input, state }) => {
            if (input === undefined) return showForm('init', LoginForm.dataSchema, state);
            const { username, password } = LoginForm.read(input);
            if (!validLogin(username, password)) {
              return showForm('init', LoginForm.dataSchema, state, { errors: { base: 'invalid_auth' } });
            }
            return createEntry({ username });
          },
        },
      }),
      async getOrCreateCredentials(flowResult): Promise<Credential> {
        const username = String(flowResult['username']);
        return store.getOrCreateCredential('insecure_example', id, username, { username });
      },
      async userMetaForCredentials(credential) {
        const user = users.find((u) => u.username === credential.subject);
        return { name: user?.name ?? credential.subject, isActive: true };
      },
      loginAccount: (input) => (typeof input['username'] === 'string' ? input['username'] : null),
      findCredential: (flowResult) => store.findCredential('insecure_example', id, String(flowResult['username'])),
    };
  },
};

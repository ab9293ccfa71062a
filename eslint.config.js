// Lint rules, including the dependency direction of docs/architecture: shared <- clients, shared <- server; inside the
// server transport -> auth -> (flow, providers, tokens) -> store interfaces; only store backends touch database clients.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (files, patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

const DB_CLIENTS = { regex: '^(redis|@redis/.+|better-sqlite3)$', message: 'Only store backends (server/src/store/redis, server/src/store/sqlite) import database clients.' };
const WS = { regex: '^ws$', message: 'Only server/src/transport imports ws.' };
const SERVER = { group: ['@flowgate/server', '**/server/src/**'], message: 'Clients and shared never import the server.' };

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'flowgate-data/**', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read arbitrary JSON replies from the wire; `any` there keeps assertions readable.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['scripts/**/*.mjs', 'eslint.config.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  restrict(['shared/src/**'], [
    { regex: '^(@flowgate/|(\\.\\./){2,})', message: 'shared imports nothing of ours.' },
    { regex: '^(?!io-ts(/|$)|fp-ts(/|$)|\\.{1,2}/)', message: 'shared is browser-safe: io-ts and fp-ts only.' },
  ]),
  restrict(['clients/**/*.ts'], [SERVER, DB_CLIENTS]),
  // The kit runs against any server, so it knows the protocol only through shared: never the server's code or our clients'.
  restrict(['conformance/**/*.ts'], [DB_CLIENTS,
    { group: ['@flowgate/server', '@flowgate/client', '@flowgate/cli', '**/server/src/**', '**/clients/**'], message: 'The conformance kit imports only @flowgate/shared of ours: it must not lean on the server or the clients it tests against.' }]),
  restrict(['server/src/store/*.ts'], [DB_CLIENTS, WS,
    { group: ['../flow/**', '../auth/**', '../transport/**', '../providers/**', '../tokens/**'], message: 'The store sits at the bottom: it imports no other server layer.' }]),
  restrict(['server/src/store/redis/**'], [{ regex: '^better-sqlite3$', message: 'The Redis backend does not use SQLite.' }, WS]),
  restrict(['server/src/store/sqlite/**'], [{ regex: '^(redis|@redis/.+)$', message: 'The SQLite backend does not use Redis.' }, WS]),
  restrict(['server/src/flow/**'], [DB_CLIENTS, WS,
    { group: ['../auth/**', '../transport/**', '../providers/**', '../tokens/**', '../store/redis/**', '../store/sqlite/**', '../store/open.js'], message: 'The flow engine knows nothing of auth, transport or store backends.' }]),
  restrict(['server/src/providers/**', 'server/src/tokens/**'], [DB_CLIENTS, WS,
    { group: ['../auth/**', '../transport/**', '../store/redis/**', '../store/sqlite/**', '../store/open.js'], message: 'Providers and tokens sit below auth and use only the store interfaces.' }]),
  // The server secret (secret_key) and the keys derived from it: tokens/, defense/ and mfa/ use it; it uses none of them.
  restrict(['server/src/secrets/**'], [DB_CLIENTS, WS,
    { group: ['../store/**', '../flow/**', '../auth/**', '../transport/**', '../providers/**', '../tokens/**', '../mfa/**', '../defense/**'], message: 'The secrets module sits at the bottom beside the store: it imports no other server layer.' }]),
  restrict(['server/src/auth/**'], [DB_CLIENTS, WS,
    { group: ['../transport/**', '../store/redis/**', '../store/sqlite/**', '../store/open.js'], message: 'auth sits below transport and uses only the store interfaces.' }]),
  restrict(['server/src/transport/**'], [DB_CLIENTS,
    { group: ['../store/redis/**', '../store/sqlite/**', '../store/open.js', '../config/**'], message: 'The transport never chooses a store backend; main.ts does.' }]),
  restrict(['server/src/config/**', 'server/src/cli/**', 'server/src/main.ts', 'server/src/index.ts'], [DB_CLIENTS, WS]),
);

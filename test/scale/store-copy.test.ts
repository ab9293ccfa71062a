/**
 * A copy of the store mints nothing (issue 20, point 5): whoever reads Redis (a backup, an RDB file, a replica) holds every
 * refresh token's record and the device-token salt, yet cannot sign an access token or a device token that a server takes;
 * the keys come from `secret_key`, which a shared store refuses to start without, and which instances must share.
 */
import { expect } from 'chai';
import { createSecretKey, randomBytes } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { createClient } from 'redis';
import { parseSecretKey, ServerSecret } from '../../server/src/secrets/server-secret.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { TEST_CLIENT_ID, type Tokens } from '../helpers/login.js';
import { authAnswer, forgedAccessToken } from '../helpers/forged-tokens.js';
import { RawClient } from '../helpers/raw-client.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { deploymentSecretKey, newSecretKey } from '../helpers/server-secret.js';
import { EXAMPLE_CONFIG, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

type Reply = Record<string, any>;
type Raw = ReturnType<typeof createClient>;

const HANDLER = ['insecure_example', null];
const ALICE = { username: 'alice', password: 'wonderland' };
/** The account key a device token of alice names (`sub`): the format is in the public code, so an attacker knows it. */
const ALICE_ACCOUNT = JSON.stringify(['insecure_example', null, 'alice']);
/** Locks alice after 3 failures for clients without a device token, so that a device token is what lets a login through. */
const CONFIG = {
  ...EXAMPLE_CONFIG,
  login_limits: { account_failures: 3, address_failures: 0, open_flows_per_address: 0 },
  websocket: { max_flow_starts_per_minute: 0, max_unauthenticated_sockets_per_address: 0 },
};
const TEN_YEARS_SECONDS = 10 * 365 * 24 * 3600;

/** Every way an attacker would turn a stored text into HMAC key bytes. */
function keyReadings(text: string): Buffer[] {
  const readings = [Buffer.from(text, 'utf8')];
  if (/^[0-9a-f]+$/i.test(text) && text.length % 2 === 0) readings.push(Buffer.from(text, 'hex'));
  if (/^[A-Za-z0-9_-]+={0,2}$/.test(text)) readings.push(Buffer.from(text, 'base64url'));
  return readings.filter((key) => key.length > 0);
}

/** Everything the store holds as a backup would have it: each string value and each hash field's value. */
async function storedTexts(raw: Raw): Promise<string[]> {
  const texts = new Set<string>();
  for (const key of await raw.keys('flowgate:*')) {
    const type = await raw.type(key);
    if (type === 'string') texts.add(String(await raw.get(key)));
    else if (type === 'hash') for (const value of Object.values(await raw.hGetAll(key))) texts.add(value);
  }
  return [...texts].filter((text) => text.length >= 16);
}

/** The stored record of a refresh token, found by the id its access tokens carry as `iss`. */
async function refreshTokenRecord(raw: Raw, accessToken: string): Promise<Record<string, string>> {
  const id = String(decodeJwt(accessToken).iss);
  const [key, ...others] = await raw.keys(`flowgate:*:refresh-token:${id}`);
  expect(key, `the record of refresh token ${id}`).to.be.a('string');
  expect(others).to.deep.equal([]);
  return raw.hGetAll(key!);
}


/** One login attempt on its own socket: init (with the device token, if any), then one step. The step's reply. */
async function attempt(server: ServerProcess, input: Record<string, string>, deviceToken?: string): Promise<Reply> {
  const { client } = await RawClient.open(server.url);
  try {
    const init: Reply = await client.command({
      type: 'login_flow/init',
      handler: HANDLER,
      client_id: TEST_CLIENT_ID,
      ...(deviceToken === undefined ? {} : { device_token: deviceToken }),
    });
    if (init['success'] !== true) return init;
    return await client.command({ type: 'login_flow/step', flow_id: init['result'].flow_id, client_id: TEST_CLIENT_ID, user_input: input });
  } finally {
    client.close();
  }
}

/** A whole login of alice on `server`: the token response, with its device token. */
async function login(server: ServerProcess): Promise<Tokens> {
  const done = await attempt(server, ALICE);
  expect(done['result']?.type, JSON.stringify(done)).to.equal('create_entry');
  const { client } = await RawClient.open(server.url);
  try {
    const code = done['result'].result;
    return (await client.result({ type: 'auth/token', grant_type: 'authorization_code', code, client_id: TEST_CLIENT_ID })) as unknown as Tokens;
  } finally {
    client.close();
  }
}

describe('A copy of the store mints nothing (secret_key)', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  let instances: Instances | undefined;
  let raw: Raw;
  const at = (n: number): ServerProcess => instances!.at(n);

  before(async function () {
    instances = await startInstances(2, redis().url, { config: CONFIG });
  });
  after(async function () {
    await instances?.stop();
  });
  // The attacker's view of Redis; per test, so that it is closed before the suite's Redis stops.
  beforeEach(async function () {
    raw = createClient({ url: redis().url });
    await raw.connect();
    // No lockout carries over from one test to the next: the failure counters live under their own `{d:...}` tags.
    for (const key of await raw.keys('flowgate:default:{d:*')) await raw.del(key);
  });
  afterEach(async function () {
    await raw.close();
  });

  it('refuses, on every instance, an access token signed with anything the live refresh token\'s record holds', async function () {
    const tokens = await login(at(0));
    const record = await refreshTokenRecord(raw, tokens.access_token);
    const iss = String(decodeJwt(tokens.access_token).iss);
    let tried = 0;
    for (const value of Object.values(record)) {
      for (const key of keyReadings(value)) {
        const forged = await forgedAccessToken(iss, key);
        for (const n of [0, 1]) expect(await authAnswer(at(n), forged), `key from "${value.slice(0, 20)}" on instance ${n}`).to.equal('auth_invalid');
        tried += 1;
      }
    }
    expect(tried).to.be.above(5);
    // The token the server issued still works: the refusals are the forgeries', not a broken session.
    expect(await authAnswer(at(1), tokens.access_token)).to.equal('auth_ok');
  });

  it('refuses an access token signed with the right key when it lives longer than its refresh token lets it (exp - iat)', async function () {
    const tokens = await login(at(0));
    const iss = String(decodeJwt(tokens.access_token).iss);
    const salt = (await refreshTokenRecord(raw, tokens.access_token))['salt'] ?? '';
    // The key the server derives (an attacker with the store AND the secret): right, so only the lifetime is refused.
    const secret = ServerSecret.fromKey(parseSecretKey(deploymentSecretKey(redis().url))!);
    const key = createSecretKey(secret.derive('accessToken', salt));
    expect(await authAnswer(at(1), await forgedAccessToken(iss, key, 1800))).to.equal('auth_ok');
    for (const lifetime of [1801, TEN_YEARS_SECONDS]) {
      for (const n of [0, 1]) expect(await authAnswer(at(n), await forgedAccessToken(iss, key, lifetime)), `${lifetime} s on instance ${n}`).to.equal('auth_invalid');
    }
  });

  it('lets no device token forged from the store contents through an account lockout, while the real one passes', async function () {
    const own = await login(at(0));
    expect(own.device_token).to.be.a('string');
    expect(decodeJwt(own.device_token!).sub).to.equal(ALICE_ACCOUNT);
    for (let n = 0; n < 3; n++) expect((await attempt(at(n % 2), { ...ALICE, password: 'guess' }))['result']?.errors).to.deep.equal({ base: 'invalid_auth' });
    expect((await attempt(at(1), ALICE))['error']?.code, 'alice is locked for untrusted clients').to.equal('rate_limited');
    const texts = await storedTexts(raw);
    let tried = 0;
    for (const text of texts) {
      for (const key of keyReadings(text)) {
        const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('flowgate-device').setSubject(ALICE_ACCOUNT)
          .setJti(randomBytes(16).toString('hex')).setIssuedAt().setExpirationTime('30d').sign(key);
        const reply = await attempt(at(tried % 2), ALICE, forged);
        expect(reply['error']?.code, `a device token signed with "${text.slice(0, 20)}"`).to.equal('rate_limited');
        tried += 1;
      }
    }
    expect(tried).to.be.above(10);
    for (const n of [0, 1]) expect((await attempt(at(n), ALICE, own.device_token))['result']?.type, `instance ${n}`).to.equal('create_entry');
  });

  it('shares tokens between instances with the same secret_key, and an instance with another accepts none of them', async function () {
    const tokens = await login(at(0));
    expect(await authAnswer(at(1), tokens.access_token)).to.equal('auth_ok');
    const client = await instances!.open(1);
    const refreshed = await client.result({ type: 'auth/token', grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: TEST_CLIENT_ID });
    expect(await authAnswer(at(0), String(refreshed['access_token']))).to.equal('auth_ok');
    const stranger = await startServerProcess({ config: CONFIG, store: redis().url, secretKey: newSecretKey() });
    try {
      expect(await authAnswer(stranger, tokens.access_token)).to.equal('auth_invalid');
      expect(await authAnswer(stranger, String(refreshed['access_token']))).to.equal('auth_invalid');
      const own = await login(stranger);
      expect(await authAnswer(at(0), own.access_token)).to.equal('auth_invalid');
    } finally {
      await stranger.stop();
    }
  });

  it('refuses to start on Redis without secret_key, saying how to make one', async function () {
    const error = await startServerProcess({ config: CONFIG, store: redis().url, secretKey: null }).then(
      () => new Error('started'),
      (refused: unknown) => refused as Error,
    );
    expect(error.message).to.include('exited with 2');
    expect(error.message).to.include('secret_key is required with a shared store (Redis)');
    expect(error.message).to.include('openssl rand -base64 32');
    expect(error.message).to.include("require('node:crypto').randomBytes(32).toString('base64')");
  });

  it('refuses to start with a secret_key that is not 32 random bytes, naming the key but not repeating it', async function () {
    for (const secretKey of ['correct horse battery staple', randomBytes(16).toString('base64')]) {
      const error = await startServerProcess({ config: CONFIG, store: redis().url, secretKey }).then(
        () => new Error('started'),
        (refused: unknown) => refused as Error,
      );
      expect(error.message).to.include('secret_key (or FLOWGATE_SECRET_KEY) must be 32 random bytes written as base64 or hex');
      expect(error.message).to.not.include(secretKey);
    }
  });
});

/**
 * Step-up across instances: the login time is the session's, in the shared store, so a re-authentication on one instance makes
 * the session fresh on every other, and another user's login on one renews nothing anywhere.
 */
import { expect } from 'chai';
import { startInstances, type Instances } from '../helpers/instances.js';
import { authenticatedSocket } from '../helpers/login.js';
import { usePrivateRedis } from '../helpers/scale.js';
import { BOB, OWNER, outcomeOf, passwordTokens, prepareAccounts, reauthenticate, sleepPastWindow, stepUpConfig } from '../helpers/step-up.js';

describe('Scale-out: step-up on two instances of one Redis', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let instances: Instances;

  before(async function () {
    const config = stepUpConfig();
    await prepareAccounts(config, [OWNER, BOB], redis().url);
    instances = await startInstances(2, redis().url, { config });
  });
  after(async () => instances?.stop());

  /** The owner's session as two sockets, one on each instance, once its login has left the window. */
  async function oldSessionOnBoth() {
    const tokens = await passwordTokens(instances.at(0).url, OWNER);
    const [onA, onB] = await Promise.all(instances.all.map((instance) => authenticatedSocket(instance.url, tokens.access_token)));
    await sleepPastWindow();
    return { onA: onA!, onB: onB! };
  }

  it('takes a privileged admin change on instance B right after a re-authentication on instance A', async function () {
    const { onA, onB } = await oldSessionOnBoth();
    try {
      const users = (await onB.result({ type: 'config/auth/list' })) as unknown as Array<Record<string, unknown>>;
      const bobId = users.find((u) => u['username'] === BOB.username)?.['id'];
      const rename = { type: 'config/auth/update', user_id: bobId, name: 'Robert' };
      expect(outcomeOf(await onB.command(rename))).to.equal('reauth_required');
      expect(outcomeOf(await reauthenticate(onA, OWNER))).to.equal('success');
      expect(outcomeOf(await onB.command(rename))).to.equal('success');
      expect(outcomeOf(await onB.command({ type: 'auth/long_lived_access_token', client_name: 'after-reauth-on-a', lifespan: 1 }))).to.equal('success');
    } finally {
      onA.close();
      onB.close();
    }
  });

  it("renews nothing on instance B when the re-authentication on A proves another user", async function () {
    const { onA, onB } = await oldSessionOnBoth();
    try {
      expect(outcomeOf(await reauthenticate(onA, BOB))).to.equal('access_denied');
      expect(outcomeOf(await onB.command({ type: 'auth/long_lived_access_token', client_name: 'as-bob', lifespan: 1 }))).to.equal('reauth_required');
      expect(outcomeOf(await onA.command({ type: 'auth/long_lived_access_token', client_name: 'as-bob', lifespan: 1 }))).to.equal('reauth_required');
    } finally {
      onA.close();
      onB.close();
    }
  });
});

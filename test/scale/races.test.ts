/** The same step raced to two instances is applied exactly once: counted over 1,000 races on real processes. */
import { expect } from 'chai';
import { createClient } from 'redis';
import { startInstances, type Instances } from '../helpers/instances.js';
import type { RawClient } from '../helpers/raw-client.js';
import { init, redeem, RIGHT, SCALE_CONFIG, step, usePrivateRedis, WRONG } from '../helpers/scale.js';

/** Each flow carries two races: a wrong password (a form step: applied = the flow's version moved) and the right one (final). */
const FLOWS = 500;
/** Concurrent flows; each lane owns one socket per instance of its pair, since a socket answers one command at a time. */
const LANES = 50;

interface Tally {
  /** Races of the form step, the final step. */
  formRaces: number;
  finalRaces: number;
  /** Successful replies that the store did not record (lost), or recorded more than once (applied twice). */
  lost: number;
  appliedTwice: number;
  /** Races where both requests overlapped, so one answered conflict (or not_found, for a final step). */
  collided: number;
  /** Replies that are neither a success nor conflict / not_found. */
  unexpected: string[];
}

describe('Scale-out: raced steps', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  let instances: Instances;
  let tally: Tally;

  before(async function () {
    instances = await startInstances(3, redis().url, { config: SCALE_CONFIG });
    const reader = createClient({ url: redis().url });
    await reader.connect();
    // The flow's version as Redis holds it: the one thing a step that was applied cannot avoid changing.
    const version = async (flowId: unknown): Promise<number | null> => {
      const v = await reader.hGet(`flowgate:default:flow:{${String(flowId)}}`, 'v');
      return v === null ? null : Number(v);
    };
    tally = { formRaces: 0, finalRaces: 0, lost: 0, appliedTwice: 0, collided: 0, unexpected: [] };
    const lane = async (index: number): Promise<void> => {
      const a = await instances.open(index % 3);
      const b = await instances.open((index + 1) % 3);
      for (let n = index; n < FLOWS; n += LANES) await raceOneFlow(a, b);
    };
    const raceOneFlow = async (a: RawClient, b: RawClient): Promise<void> => {
      const form = await init(a);
      const flowId = form['flow_id'];
      // Form step: each success must have moved the version by exactly one.
      const formReplies = await Promise.all([step(a, flowId, WRONG), step(b, flowId, WRONG)]);
      tally.formRaces++;
      const formWins = formReplies.filter((reply) => reply['success'] === true).length;
      const moved = ((await version(flowId)) ?? 0) - 1;
      if (moved < formWins) tally.lost += formWins - moved;
      if (moved > formWins) tally.appliedTwice += moved - formWins;
      record(formReplies, ['conflict']);
      // Final step: exactly one create_entry, and its code redeems exactly once.
      const finalReplies = await Promise.all([step(a, flowId, RIGHT), step(b, flowId, RIGHT)]);
      tally.finalRaces++;
      const entries = finalReplies.filter((reply) => (reply['result'] as any)?.type === 'create_entry') as any[];
      if (entries.length === 0) tally.lost++;
      if (entries.length > 1) tally.appliedTwice += entries.length - 1;
      record(finalReplies, ['conflict', 'not_found']);
      for (const entry of entries) {
        if ((await redeem(a, entry.result.result))['success'] !== true) tally.lost++;
      }
    };
    const record = (replies: Array<Record<string, unknown>>, loserCodes: string[]): void => {
      const losers = replies.filter((reply) => reply['success'] !== true);
      if (losers.length > 0) tally.collided++;
      for (const loser of losers) {
        const code = (loser as any).error?.code;
        if (!loserCodes.includes(code)) tally.unexpected.push(JSON.stringify(loser));
      }
    };
    const started = Date.now();
    try {
      await Promise.all(Array.from({ length: LANES }, (_, index) => lane(index)));
    } finally {
      await reader.close();
    }
    const races = tally.formRaces + tally.finalRaces;
    console.log(
      `      raced steps: ${races} (${tally.formRaces} form, ${tally.finalRaces} final) in ${Date.now() - started} ms; ` +
        `collided ${tally.collided}, applied twice ${tally.appliedTwice}, lost ${tally.lost}, unexpected ${tally.unexpected.length}`,
    );
  });
  after(async function () {
    await instances?.stop();
  });

  it('runs at least 1,000 raced steps', function () {
    expect(tally.formRaces + tally.finalRaces).to.be.at.least(1_000);
  });

  it('applies no raced step twice', function () {
    expect(tally.appliedTwice).to.equal(0);
  });

  it('loses no raced step: every success is recorded and every final step finished its flow', function () {
    expect(tally.lost).to.equal(0);
  });

  it('answers the loser of a race conflict, or not_found once the flow finished', function () {
    expect(tally.unexpected).to.deep.equal([]);
  });

  it('really races: some requests overlapped and one of the pair lost', function () {
    expect(tally.collided).to.be.above(0);
  });
});

/** The flow engine's memory of its own writes: the latest one, or one found at its version; bounded, oldest out first. */
import { expect } from 'chai';
import type { FlowRecord } from '../../server/src/flow/record.js';
import { KnownRecords } from '../../server/src/flow/known-records.js';

const record = (stepId: string): FlowRecord => ({
  handler: ['test', null],
  context: {},
  step_id: stepId,
  form: { data_schema: [], errors: null, description_placeholders: null, last_step: null },
  state: {},
  created_at: 0,
});

const EXPIRES = Date.now() + 60_000;

describe('KnownRecords', function () {
  describe('#find', function () {
    it('finds a record only at the version it was written as', function () {
      const written = new KnownRecords<string>(10);
      written.remember('flow-1', { version: 2, expiresAt: EXPIRES, record: record('code'), context: 'context' });
      expect(written.find('flow-1', 2)?.record.step_id).to.equal('code');
      expect(written.find('flow-1', 1)).to.equal(undefined);
      expect(written.find('flow-1', 3)).to.equal(undefined);
      written.forget('flow-1');
      expect(written.find('flow-1', 2)).to.equal(undefined);
    });
  });

  describe('#latest', function () {
    it('gives the last version written, with its expiry, until forgotten', function () {
      const written = new KnownRecords<string>(10);
      expect(written.latest('flow-1')).to.equal(undefined);
      written.remember('flow-1', { version: 1, expiresAt: EXPIRES, record: record('init'), context: 'context' });
      written.remember('flow-1', { version: 2, expiresAt: EXPIRES, record: record('code'), context: 'context' });
      expect(written.latest('flow-1')).to.deep.include({ version: 2, expiresAt: EXPIRES });
      expect(written.latest('flow-1')?.record.step_id).to.equal('code');
      written.forget('flow-1');
      expect(written.latest('flow-1')).to.equal(undefined);
    });

    it('keeps a later version over an earlier one remembered after it (a read overtaken by a write)', function () {
      const known = new KnownRecords<string>(10);
      known.remember('flow-1', { version: 3, expiresAt: EXPIRES, record: record('code'), context: 'context' });
      known.remember('flow-1', { version: 2, expiresAt: EXPIRES, record: record('init'), context: 'context' });
      expect(known.latest('flow-1')).to.deep.include({ version: 3 });
    });
  });

  describe('#remember', function () {
    it('keeps at most its capacity, dropping the flow written longest ago', function () {
      const written = new KnownRecords<string>(2);
      written.remember('a', { version: 1, expiresAt: EXPIRES, record: record('init'), context: 'context' });
      written.remember('b', { version: 1, expiresAt: EXPIRES, record: record('init'), context: 'context' });
      written.remember('a', { version: 2, expiresAt: EXPIRES, record: record('code'), context: 'context' });
      written.remember('c', { version: 1, expiresAt: EXPIRES, record: record('init'), context: 'context' });
      expect([written.find('a', 2), written.find('b', 1), written.find('c', 1)].map((entry) => entry !== undefined)).to.deep.equal([true, false, true]);
    });

    it('freezes the state and context it keeps, so a handler cannot change them for the next step', function () {
      const written = new KnownRecords<{ clientId: string; device: { id: string } }>(2);
      written.remember('a', { version: 1, expiresAt: EXPIRES, record: { ...record('init'), state: { tries: { count: 1 } } }, context: { clientId: 'x', device: { id: 'd' } } });
      const found = written.find('a', 1);
      expect(Object.isFrozen(found?.record.state)).to.equal(true);
      expect(Object.isFrozen(found?.record.state['tries'])).to.equal(true);
      expect(Object.isFrozen(found?.context)).to.equal(true);
      expect(Object.isFrozen(found?.context.device)).to.equal(true);
    });
  });
});

import { expect } from 'chai';
import { isLeft } from 'fp-ts/lib/Either.js';
import { LoginFlowInit, LoginFlowStep, describeErrors } from '@flowgate/shared';

function errorsOf(codec: { decode(u: unknown): import('fp-ts/lib/Either.js').Either<import('io-ts').Errors, unknown> }, value: unknown): string {
  const decoded = codec.decode(value);
  if (!isLeft(decoded)) throw new Error('expected a decoding failure');
  return describeErrors(decoded.left);
}

describe('describeErrors', function () {
  it('names a missing field', function () {
    expect(errorsOf(LoginFlowStep, { id: 1, type: 'login_flow/step', flow_id: 'x', user_input: {} })).to.equal(
      'client_id is required (string of 1..2048 characters)',
    );
  });

  it('names a field inside a tuple by its index', function () {
    const message = errorsOf(LoginFlowInit, { id: 1, type: 'login_flow/init', handler: ['x', 5], client_id: 'c' });
    expect(message).to.match(/^handler\[1\]: expected/);
  });

  it('says what was received without echoing long strings', function () {
    const message = errorsOf(LoginFlowStep, { id: 1, type: 'login_flow/step', flow_id: 'x', client_id: 'c', user_input: 'a'.repeat(500) });
    expect(message).to.equal('user_input: expected UnknownRecord, got a string of 500 characters');
  });

  it('refuses ids that are not positive integers', function () {
    expect(errorsOf(LoginFlowStep, { id: 0, type: 'login_flow/step', flow_id: 'x', client_id: 'c', user_input: {} })).to.match(/^id: expected/);
  });
});

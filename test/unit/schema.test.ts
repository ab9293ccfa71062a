import { expect } from 'chai';
import { defineForm, field, validateInput } from '../../server/src/flow/schema.js';

describe('Form schema', function () {
  const form = defineForm({
    username: field.string('username'),
    remember: field.boolean('remember', { required: false }),
    age: field.integer('age', { required: false, valueMin: 0, valueMax: 150 }),
    ratio: field.float('ratio', { required: false }),
    method: field.select('method', [['totp', 'Authenticator app'], ['sms', 'Text message']], { required: false }),
  });

  describe('#dataSchema', function () {
    it('describes each field as Home Assistant serialises it', function () {
      expect(form.dataSchema).to.deep.equal([
        { name: 'username', type: 'string', required: true },
        { name: 'remember', type: 'boolean', optional: true },
        { name: 'age', type: 'integer', optional: true, valueMin: 0, valueMax: 150 },
        { name: 'ratio', type: 'float', optional: true },
        { name: 'method', type: 'select', optional: true, options: [['totp', 'Authenticator app'], ['sms', 'Text message']] },
      ]);
    });
  });

  describe('validateInput', function () {
    it('accepts input that matches and keeps only the schema fields', function () {
      const check = validateInput(form.dataSchema, { username: 'alice', age: 30, method: 'sms' });
      expect(check).to.deep.equal({ ok: true, input: { username: 'alice', age: 30, method: 'sms' } });
    });

    it('names a missing required field', function () {
      expect(validateInput(form.dataSchema, {})).to.deep.equal({ ok: false, errors: { username: 'required' } });
    });

    it('names each field of the wrong type or out of range', function () {
      const check = validateInput(form.dataSchema, { username: 1, remember: 'yes', age: 3.5, ratio: 'x', method: 'email' });
      expect(check).to.deep.equal({
        ok: false,
        errors: { username: 'invalid_type', remember: 'invalid_type', age: 'invalid_type', ratio: 'invalid_type', method: 'invalid_option' },
      });
      expect(validateInput(form.dataSchema, { username: 'a', age: 151 })).to.deep.equal({ ok: false, errors: { age: 'out_of_range' } });
    });

    it('refuses a field the form does not have', function () {
      expect(validateInput(form.dataSchema, { username: 'a', admin: true })).to.deep.equal({ ok: false, errors: { admin: 'unknown_field' } });
    });

    it('refuses strings longer than the protocol limit', function () {
      expect(validateInput(form.dataSchema, { username: 'a'.repeat(1025) })).to.deep.equal({ ok: false, errors: { username: 'too_long' } });
    });

    it('does not treat inherited keys as input', function () {
      const input = Object.create({ username: 'x' }) as Record<string, unknown>;
      expect(validateInput(form.dataSchema, input)).to.deep.equal({ ok: false, errors: { username: 'required' } });
    });

    it('refuses a __proto__ key like any other unknown field', function () {
      const input = JSON.parse('{"__proto__": {"a": 1}, "username": "a"}') as Record<string, unknown>;
      const check = validateInput(form.dataSchema, input);
      expect(check.ok).to.equal(false);
      expect(JSON.parse(JSON.stringify(check))).to.deep.equal({ ok: false, errors: { ['__proto__']: 'unknown_field' } });
    });
  });
});

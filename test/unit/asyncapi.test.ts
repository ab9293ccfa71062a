/** docs/asyncapi.yaml: current with the codecs, valid AsyncAPI, a message per server command, schemas that say what the codecs check. */
import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import * as shared from '@flowgate/shared';
import { boundedString, GROUP_IDS } from '@flowgate/shared';
import { expect } from 'chai';
import * as t from 'io-ts';
import { asyncApiDocument, renderAsyncApi } from '../../scripts/asyncapi/document.js';
import { SchemaWriter } from '../../scripts/asyncapi/json-schema.js';
import { COMMANDS } from '../../server/src/transport/commands.js';

const DOCUMENT_PATH = new URL('../../docs/asyncapi.yaml', import.meta.url);

interface Operation {
  action: 'send' | 'receive';
  messages: { $ref: string }[];
  reply?: { messages: { $ref: string }[] };
}
interface Doc {
  operations: Record<string, Operation>;
  components: { schemas: Record<string, any>; messages: Record<string, { name: string; payload: any }> };
}

const generated = () => asyncApiDocument() as unknown as Doc;
/** The component message a `#/channels/websocket/messages/<key>` reference points at. */
const messageOf = (doc: Doc, ref: { $ref: string }) => doc.components.messages[ref.$ref.split('/').at(-1) ?? ''];

describe('AsyncAPI document', () => {
  describe('docs/asyncapi.yaml', () => {
    it('equals what npm run asyncapi writes from the codecs now', () => {
      const committed = readFileSync(DOCUMENT_PATH, 'utf8').split('\n');
      const current = renderAsyncApi().split('\n');
      const line = current.findIndex((text, i) => text !== committed[i]);
      const where = line === -1 ? 'it has extra lines at the end' : `line ${line + 1} differs`;
      const upToDate = committed.length === current.length && line === -1;
      expect(upToDate, `docs/asyncapi.yaml is out of date (${where}): run npm run asyncapi`).to.equal(true);
    });

    it('is valid AsyncAPI for @asyncapi/parser', async () => {
      const { document, diagnostics } = await new Parser().parse(readFileSync(DOCUMENT_PATH, 'utf8'));
      const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
      for (const d of diagnostics.filter((x) => x.severity === DiagnosticSeverity.Warning)) {
        console.log(`asyncapi warning ${d.code}: ${d.message} at ${d.path.join('.')}`);
      }
      expect(errors.map((d) => `${d.message} at ${d.path.join('.')}`)).to.deep.equal([]);
      expect(document?.version()).to.equal('3.0.0');
    });
  });

  describe('#asyncApiDocument', () => {
    it('has a message the server receives for every command in the server table, and for auth', () => {
      const doc = generated();
      const received = Object.values(doc.operations)
        .filter((op) => op.action === 'receive')
        .flatMap((op) => op.messages.map((ref) => messageOf(doc, ref)?.name));
      expect([...received].sort()).to.deep.equal(['auth', ...Object.keys(COMMANDS)].sort());
    });

    it('sends the hello unasked and answers auth with auth_ok or auth_invalid', () => {
      const doc = generated();
      const sent = Object.values(doc.operations).filter((op) => op.action === 'send');
      expect(sent.flatMap((op) => op.messages.map((ref) => messageOf(doc, ref)?.name))).to.deep.equal(['auth_required']);
      const replies = doc.operations.auth?.reply?.messages.map((ref) => messageOf(doc, ref)?.name);
      expect(replies).to.deep.equal(['auth_ok', 'auth_invalid']);
    });

    it("answers each command with its success result and the error result, and ping with pong", () => {
      const doc = generated();
      const replyNames = (key: string) => doc.operations[key]?.reply?.messages.map((ref) => ref.$ref.split('/').at(-1));
      expect(replyNames('login_flow.init')).to.deep.equal(['login_flow.init.result', 'result_error']);
      expect(replyNames('ping')).to.deep.equal(['pong', 'result_error']);
      const success = doc.components.messages['auth.current_user.result']?.payload;
      expect(success.properties.result).to.deep.equal({ $ref: '#/components/schemas/CurrentUser' });
      expect(success.properties.success).to.deep.equal({ type: 'boolean', const: true });
      expect(doc.components.messages['login_flow.abort.result']?.payload.properties.result).to.deep.equal({ type: 'null' });
    });

    it("requires login_flow/init's id, type, handler and client_id, with their bounds", () => {
      const schema = generated().components.schemas.LoginFlowInit;
      expect(schema.required).to.deep.equal(['id', 'type', 'handler', 'client_id']);
      expect(schema.properties.type).to.deep.equal({ type: 'string', const: 'login_flow/init' });
      expect(schema.properties.redirect_uri).to.deep.equal({ type: 'string', minLength: 1, maxLength: shared.MAX_REDIRECT_URI_LENGTH });
      expect(generated().components.schemas.PositiveInt).to.deep.equal({ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
    });

    it("limits config/auth/update's group_ids to the three groups, each at most once", () => {
      const doc = generated();
      const groupIds = doc.components.schemas.UpdateUserCommand.properties.group_ids;
      expect(groupIds).to.deep.equal({ type: 'array', items: { $ref: '#/components/schemas/GroupId' }, maxItems: GROUP_IDS.length });
      expect(doc.components.schemas.GroupId).to.deep.equal({ type: 'string', enum: [...GROUP_IDS] });
    });

    it('narrows the type of a codec shared by two command types (the password provider prefixes)', () => {
      const payload = generated().components.messages['config.auth_provider.homeassistant.create']?.payload;
      const narrowed = { properties: { type: { const: 'config/auth_provider/homeassistant/create' } } };
      expect(payload).to.deep.equal({ allOf: [{ $ref: '#/components/schemas/CreatePasswordCommand' }, narrowed] });
    });
  });
});

describe('SchemaWriter', () => {
  describe('#schemaOf', () => {
    it('carries the bounds of a boundedString', () => {
      expect(new SchemaWriter({}).schemaOf(boundedString(10, 2), 'x')).to.deep.equal({ type: 'string', minLength: 2, maxLength: 10 });
    });

    it('refers to a codec shared exports by its name', () => {
      const writer = new SchemaWriter(shared);
      const schema = writer.schemaOf(t.type({ key: shared.HandlerKey }), 'x');
      expect(schema.properties).to.deep.equal({ key: { $ref: '#/components/schemas/HandlerKey' } });
      expect(Object.keys(writer.components())).to.include('HandlerKey');
    });

    it('refuses a custom codec it has no schema for', () => {
      const custom = new t.Type<string>('Opaque', (u): u is string => typeof u === 'string', t.string.validate, t.identity);
      const write = () => new SchemaWriter({}).schemaOf(t.type({ field: custom }), 'Message');
      expect(write).to.throw(/Message\.field: cannot describe the codec "Opaque"/);
    });

    it('refuses a refinement whose rule it does not know', () => {
      const even = t.refinement(t.number, (n) => n % 2 === 0, 'Even');
      expect(() => new SchemaWriter({}).schemaOf(even, 'x')).to.throw(/the refinement "Even" hides its rule/);
    });

    it('refuses a recursive codec', () => {
      const tree = t.recursion<unknown, unknown, unknown, t.Mixed>('Tree', (self) => t.array(self));
      expect(() => new SchemaWriter({}).schemaOf(tree, 'x')).to.throw(/RecursiveType/);
    });
  });
});

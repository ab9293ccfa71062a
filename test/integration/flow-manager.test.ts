/** The flow engine on real stores: results, persistence between calls, expiry, client binding and atomic steps. */
import { expect } from 'chai';
import * as t from 'io-ts';
import {
  FlowManager,
  AbortFlow,
  createEntry,
  defineFlowHandler,
  defineForm,
  field,
  handOver,
  showForm,
  showMenu,
  withEffects,
} from '../../server/src/flow/index.js';
import type { AnyFlowHandler, FlowManagerOptions, StepEffects, StepOutcome } from '../../server/src/flow/index.js';
import { ServiceError } from '../../server/src/errors.js';
import type { JsonObject, Store } from '../../server/src/store/types.js';
import { BACKENDS, freshStore } from '../helpers/stores.js';

/** The engine stores its owner's context opaquely; these tests bind flows to a client id as the auth layer does. */
const TestContext = t.type({ clientId: t.string });
type TestContext = t.TypeOf<typeof TestContext>;
const CONTEXT: TestContext = { clientId: 'https://app.example/' };

/** The engine with the client-id binding the tests call it by: `step(flowId, clientId, input)`. */
function bound(engine: FlowManager<TestContext>) {
  const admit = (clientId: string) => (context: TestContext) => context.clientId === clientId;
  return {
    init: (key: [string, string | null], context: TestContext) => engine.init(key, context),
    step: (flowId: string, clientId: string, input: Record<string, unknown>) => engine.step(flowId, input, admit(clientId)),
    get: (flowId: string, clientId: string) => engine.get(flowId, admit(clientId)),
    abort: (flowId: string, clientId: string) => engine.abort(flowId, admit(clientId)),
  };
}
const NameForm = defineForm({ name: field.string('name') });
const CodeForm = defineForm({ code: field.string('code') });

/**
 * A two-step handler: asks a name, then a code; `stop` aborts from inside a step; `gate` lets a test hold a step mid-way. Its
 * steps do nothing but compute, so it is rerunnable (see FlowHandler.rerunnable).
 */
function twoStepHandler(gate?: () => Promise<void>): AnyFlowHandler {
  return defineFlowHandler<{ name: string | null; tries: number }, 'code'>({
    key: ['test', null],
    rerunnable: true,
    initialState: () => ({ name: null, tries: 0 }),
    steps: {
      init: async ({ input, state }) => {
        if (input === undefined) return showForm('init', NameForm.dataSchema, state);
        const { name } = NameForm.read(input);
        if (name === 'stop') throw new AbortFlow('not_allowed');
        await gate?.();
        return showForm('code', CodeForm.dataSchema, { ...state, name }, { lastStep: true });
      },
      code: async ({ input, state }) => {
        if (input === undefined) return showForm('code', CodeForm.dataSchema, state);
        if (CodeForm.read(input).code !== '123') {
          return showForm('code', CodeForm.dataSchema, { ...state, tries: state.tries + 1 }, { errors: { base: 'invalid_code' } });
        }
        return createEntry({ name: state.name, tries: state.tries });
      },
    },
  });
}

/** Effects that note in `effects` when they ran: `committed <what>` or `discarded <what>`. */
function noting(effects: string[], what: string): StepEffects {
  return { committed: async () => void effects.push(`committed ${what}`), discarded: async () => void effects.push(`discarded ${what}`) };
}

/**
 * A rerunnable one-form handler: each name answered is kept as `seen` (its effects noted), unless `ending` ends the flow on it
 * (given the name and the name seen before).
 */
function seenNames(effects: string[], ending: (name: string, seen: string) => StepOutcome<JsonObject, string> | null): AnyFlowHandler {
  return defineFlowHandler<{ seen: string }, 'init'>({
    key: ['test', null],
    rerunnable: true,
    initialState: () => ({ seen: '' }),
    steps: {
      init: async ({ input, state }) => {
        if (input === undefined) return showForm('init', NameForm.dataSchema, state);
        const { name } = NameForm.read(input);
        return (ending(name, state.seen) as StepOutcome<{ seen: string }, 'init'> | null) ?? withEffects(showForm('init', NameForm.dataSchema, { seen: name }), noting(effects, name));
      },
    },
  });
}

/** Whatever the promise rejects with (it must reject). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ServiceError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

for (const backend of BACKENDS) {
  describe(`FlowManager (${backend} store)`, function () {
    let store: Store;
    let finished: JsonObject[];
    const manager = (handler: AnyFlowHandler, options: Partial<Pick<FlowManagerOptions<TestContext>, 'ttlMs' | 'now' | 'store'>> = {}) =>
      bound(new FlowManager<TestContext>({
        store,
        contextCodec: TestContext,
        resolveHandler: (key) => (key[0] === 'test' ? handler : undefined),
        finish: async (_flow, data) => {
          finished.push(data);
          return { kind: 'create_entry', result: `entry-for-${String(data['name'])}` };
        },
        ...options,
      }));

    beforeEach(async function () {
      store = await freshStore(backend);
      finished = [];
    });
    afterEach(async () => store.close());

    describe('#init', function () {
      it('answers the first form with a 128-bit random flow id and keeps the flow in the store', async function () {
        const result = await manager(twoStepHandler()).init(['test', null], CONTEXT);
        expect(result).to.deep.include({ type: 'form', step_id: 'init', data_schema: NameForm.dataSchema, errors: null });
        expect(result.flow_id).to.match(/^[0-9a-f]{32}$/);
        expect(await store.getFlow(result.flow_id)).to.not.equal(null);
      });

      it('answers not_found for an unknown handler', async function () {
        const error = await rejection(manager(twoStepHandler()).init(['nope', null], CONTEXT));
        expect(error.code).to.equal('not_found');
      });
    });

    describe('#step', function () {
      it('carries state between steps through the store, across manager instances', async function () {
        const first = await manager(twoStepHandler()).init(['test', null], CONTEXT);
        const second = await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { name: 'ada' });
        expect(second).to.deep.include({ type: 'form', step_id: 'code', last_step: true });
        const wrong = await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { code: '000' });
        expect(wrong).to.deep.include({ step_id: 'code', errors: { base: 'invalid_code' } });
        const done = await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { code: '123' });
        expect(done).to.deep.equal({ type: 'create_entry', flow_id: first.flow_id, handler: ['test', null], result: 'entry-for-ada' });
        expect(finished).to.deep.equal([{ name: 'ada', tries: 1 }]);
      });

      it('answers invalid input with the same form and field errors, without running the step', async function () {
        const first = await manager(twoStepHandler()).init(['test', null], CONTEXT);
        const answer = await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { nom: 'x' });
        expect(answer).to.deep.include({ type: 'form', step_id: 'init', errors: { nom: 'unknown_field', name: 'required' } });
        expect((await store.getFlow(first.flow_id))?.version).to.equal(1);
      });

      it('turns AbortFlow thrown in a step into an abort result and removes the flow', async function () {
        const first = await manager(twoStepHandler()).init(['test', null], CONTEXT);
        const result = await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { name: 'stop' });
        expect(result).to.deep.equal({
          type: 'abort',
          flow_id: first.flow_id,
          handler: ['test', null],
          reason: 'not_allowed',
          description_placeholders: null,
        });
        expect(await store.getFlow(first.flow_id)).to.equal(null);
      });

      it('answers not_found to another client id and leaves the flow usable', async function () {
        const first = await manager(twoStepHandler()).init(['test', null], CONTEXT);
        const error = await rejection(manager(twoStepHandler()).step(first.flow_id, 'https://other.example/', { name: 'x' }));
        expect(error.code).to.equal('not_found');
        expect(await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { name: 'x' })).to.deep.include({ step_id: 'code' });
      });

      it('answers not_found once the flow has expired', async function () {
        let now = Date.now();
        const flows = manager(twoStepHandler(), { ttlMs: 60_000, now: () => now });
        const first = await flows.init(['test', null], CONTEXT);
        expect(Date.parse(first.type === 'form' ? first.expires_at : '')).to.equal(now + 60_000);
        now += 60_001;
        expect((await rejection(flows.step(first.flow_id, CONTEXT.clientId, { name: 'x' }))).code).to.equal('not_found');
      });

      it('applies exactly one of two concurrent steps; the other gets conflict', async function () {
        let release!: () => void;
        const bothRead = new Promise<void>((resolve) => (release = resolve));
        let arrived = 0;
        const gate = async (): Promise<void> => {
          arrived += 1;
          if (arrived === 2) release();
          await bothRead;
        };
        const flows = manager(twoStepHandler(gate));
        const first = await flows.init(['test', null], CONTEXT);
        const outcomes = await Promise.allSettled([
          flows.step(first.flow_id, CONTEXT.clientId, { name: 'a' }),
          flows.step(first.flow_id, CONTEXT.clientId, { name: 'b' }),
        ]);
        const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
        const rejected = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as ServiceError] : []));
        expect(fulfilled).to.have.length(1);
        expect(rejected.map((e) => e.code)).to.deep.equal(['conflict']);
        expect((await store.getFlow(first.flow_id))?.version).to.equal(2);
      });

      it("runs the winner's committed effects and the loser's discarded ones, and finishes a raced final step once", async function () {
        const effects: string[] = [];
        let release!: () => void;
        const bothRan = new Promise<void>((resolve) => (release = resolve));
        let arrived = 0;
        const handler = defineFlowHandler<JsonObject, 'init'>({
          key: ['test', null],
          initialState: () => ({}),
          steps: {
            init: async ({ input, state }) => {
              if (input === undefined) return showForm('init', NameForm.dataSchema, state);
              const { name } = NameForm.read(input);
              arrived += 1;
              if (arrived === 2) release();
              await bothRan;
              return createEntry({ name }, {
                committed: async () => void effects.push(`committed ${name}`),
                discarded: async () => void effects.push(`discarded ${name}`),
              });
            },
          },
        });
        const flows = manager(handler);
        const first = await flows.init(['test', null], CONTEXT);
        const outcomes = await Promise.allSettled(
          ['a', 'b'].map((name) => flows.step(first.flow_id, CONTEXT.clientId, { name })),
        );
        const winner = outcomes.flatMap((o) => (o.status === 'fulfilled' && o.value.type === 'create_entry' ? [o.value.result] : []));
        expect(winner).to.have.length(1);
        const winnerName = winner[0] === 'entry-for-a' ? 'a' : 'b';
        const loserName = winnerName === 'a' ? 'b' : 'a';
        expect(effects.sort()).to.deep.equal([`committed ${winnerName}`, `discarded ${loserName}`]);
        // The finish hook (which issues the code) ran for the winner alone.
        expect(finished).to.deep.equal([{ name: winnerName }]);
      });
    });

    describe('hand-over and menus', function () {
      /** A first handler that hands the flow to a second one (as a provider to MFA), which offers a menu of two steps. */
      const second = defineFlowHandler<{ name: string }, 'code' | 'skip'>({
        key: ['second', null],
        initialState: () => ({ name: '' }),
        steps: {
          init: async ({ state }) => showMenu('init', ['code', 'skip'], state, { who: state.name }),
          code: async ({ input, state }) => {
            if (input === undefined) return showForm('code', CodeForm.dataSchema, state);
            return CodeForm.read(input).code === '123' ? createEntry({ name: state.name, via: 'code' }) : showForm('code', CodeForm.dataSchema, state, { errors: { base: 'invalid_code' } });
          },
          skip: async ({ state }) => createEntry({ name: state.name, via: 'skip' }),
        },
      });
      const first = defineFlowHandler<JsonObject, 'init'>({
        key: ['test', null],
        initialState: () => ({}),
        steps: {
          init: async ({ input, state }) => {
            if (input === undefined) return showForm('init', NameForm.dataSchema, state);
            return handOver(['second', null], { name: NameForm.read(input).name });
          },
        },
      });
      const chained = () =>
        bound(
          new FlowManager<TestContext>({
            store,
            contextCodec: TestContext,
            resolveHandler: (key) => (key[0] === 'test' ? first : key[0] === 'second' ? second : undefined),
            finish: async (_flow, data) => {
              finished.push(data);
              return { kind: 'create_entry', result: `done-${String(data['via'])}` };
            },
          }),
        );

      it("continues with the second handler's steps, on any manager, naming the first handler throughout", async function () {
        const started = await chained().init(['test', null], CONTEXT);
        const menu = await chained().step(started.flow_id, CONTEXT.clientId, { name: 'ada' });
        expect(menu).to.deep.include({ type: 'menu', handler: ['test', null], step_id: 'init', menu_options: ['code', 'skip'], description_placeholders: { who: 'ada' } });
        const form = await chained().step(started.flow_id, CONTEXT.clientId, { next_step_id: 'code' });
        expect(form).to.deep.include({ type: 'form', step_id: 'code', handler: ['test', null] });
        expect(await chained().get(started.flow_id, CONTEXT.clientId)).to.deep.include({ step_id: 'code' });
        const done = await chained().step(started.flow_id, CONTEXT.clientId, { code: '123' });
        expect(done).to.deep.include({ type: 'create_entry', result: 'done-code', handler: ['test', null] });
        expect(finished).to.deep.equal([{ name: 'ada', via: 'code' }]);
      });

      it('refuses a menu answer that is not one of its options, and keeps the menu', async function () {
        const started = await chained().init(['test', null], CONTEXT);
        await chained().step(started.flow_id, CONTEXT.clientId, { name: 'ada' });
        for (const input of [{ next_step_id: 'init' }, { next_step_id: 'nope' }, {}, { next_step_id: 'code', extra: 1 }]) {
          expect((await rejection(chained().step(started.flow_id, CONTEXT.clientId, input))).code).to.equal('invalid_format');
        }
        expect(await chained().get(started.flow_id, CONTEXT.clientId)).to.deep.include({ type: 'menu' });
        const skipped = await chained().step(started.flow_id, CONTEXT.clientId, { next_step_id: 'skip' });
        expect(skipped).to.deep.include({ type: 'create_entry', result: 'done-skip' });
      });

      it('gives an error only once the store shows the step it came from is current', async function () {
        const onA = chained();
        const started = await onA.init(['test', null], CONTEXT);
        expect(await onA.step(started.flow_id, CONTEXT.clientId, { name: 'ada' })).to.deep.include({ type: 'menu' });
        await chained().step(started.flow_id, CONTEXT.clientId, { next_step_id: 'code' });
        // A's own write is the menu, which refuses this answer; the store's flow is at the code form, which takes it.
        expect(await onA.step(started.flow_id, CONTEXT.clientId, { code: '123' })).to.deep.include({ type: 'create_entry', result: 'done-code' });
        const current = await onA.init(['test', null], CONTEXT);
        await onA.step(current.flow_id, CONTEXT.clientId, { name: 'ada' });
        expect((await rejection(onA.step(current.flow_id, CONTEXT.clientId, { code: '123' }))).code).to.equal('invalid_format');
      });
    });

    describe('records this instance wrote', function () {
      /**
       * The store, counting its flow reads (`versions`: getFlow calls; `records`: stored records parsed) and the flow writes it
       * refused (`refusedWrites`: compare-and-sets from a version it no longer held).
       */
      function countingReads(): { store: Store; versions: () => number; records: () => number; refusedWrites: () => number } {
        let versions = 0;
        let records = 0;
        let refusedWrites = 0;
        const counting = new Proxy(store, {
          get(target, name) {
            if (name === 'replaceFlow') {
              return async (...args: Parameters<Store['replaceFlow']>) => {
                const outcome = await target.replaceFlow(...args);
                if (outcome !== 'ok') refusedWrites += 1;
                return outcome;
              };
            }
            if (name === 'getFlow') {
              return async (id: string) => {
                versions += 1;
                const flow = await target.getFlow(id);
                if (flow === null) return null;
                return { id: flow.id, version: flow.version, expiresAt: flow.expiresAt, get data() { records += 1; return flow.data; } };
              };
            }
            const value: unknown = Reflect.get(target, name);
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
        return { store: counting, versions: () => versions, records: () => records, refusedWrites: () => refusedWrites };
      }

      it("steps on its own last write without reading the store, and reads another instance's write", async function () {
        const counted = countingReads();
        const onA = manager(twoStepHandler(), { store: counted.store });
        const onB = manager(twoStepHandler());
        const first = await onA.init(['test', null], CONTEXT);
        await onA.step(first.flow_id, CONTEXT.clientId, { name: 'ada' });
        expect([counted.versions(), counted.records()]).to.deep.equal([0, 0]);
        expect(await onB.step(first.flow_id, CONTEXT.clientId, { code: '000' })).to.deep.include({ errors: { base: 'invalid_code' } });
        // A's last write is version 2; B's version 3 refuses A's compare-and-set, so A reads it and runs again (tries: 1 -> 2).
        await onA.step(first.flow_id, CONTEXT.clientId, { code: '000' });
        expect([counted.versions(), counted.records()]).to.deep.equal([1, 1]);
        // The flow changed instances, so A's next step reads first; that read finds A's own write (nothing parsed)...
        await onA.step(first.flow_id, CONTEXT.clientId, { code: '000' });
        expect([counted.versions(), counted.records()]).to.deep.equal([2, 1]);
        // ...so the step after it starts from A's write again, without a read.
        expect(await onA.step(first.flow_id, CONTEXT.clientId, { code: '123' })).to.deep.include({ type: 'create_entry' });
        expect([counted.versions(), counted.records()]).to.deep.equal([2, 1]);
        expect(finished).to.deep.equal([{ name: 'ada', tries: 3 }]);
        expect(await store.getFlow(first.flow_id)).to.equal(null);
      });

      it('reads the flow first when the step asks it to, even on its own last write', async function () {
        const counted = countingReads();
        const engine = new FlowManager<TestContext>({
          store: counted.store,
          contextCodec: TestContext,
          resolveHandler: (key) => (key[0] === 'test' ? twoStepHandler() : undefined),
          finish: async () => ({ kind: 'create_entry', result: 'unused' }),
        });
        const first = await engine.init(['test', null], CONTEXT);
        const admitted = (): boolean => true;
        expect(await engine.step(first.flow_id, { name: 'ada' }, admitted, { readFirst: true })).to.deep.include({ step_id: 'code' });
        expect(counted.versions()).to.equal(1);
        expect(await engine.step(first.flow_id, { code: '000' }, admitted)).to.deep.include({ errors: { base: 'invalid_code' } });
        expect(counted.versions()).to.equal(1);
      });

      it('reads first on every step of a flow that changes instances at each step', async function () {
        const counted = countingReads();
        const onA = manager(twoStepHandler(), { store: counted.store });
        const onB = manager(twoStepHandler());
        const first = await onA.init(['test', null], CONTEXT);
        await onA.step(first.flow_id, CONTEXT.clientId, { name: 'ada' });
        for (let turn = 0; turn < 3; turn++) {
          await onB.step(first.flow_id, CONTEXT.clientId, { code: '000' });
          await onA.step(first.flow_id, CONTEXT.clientId, { code: '000' });
        }
        // A's first step after B's was refused and read the flow; the next two read first and were not refused.
        expect([counted.refusedWrites(), counted.versions()]).to.deep.equal([1, 3]);
        expect((await store.getFlow(first.flow_id))?.version).to.equal(8);
      });

      it('starts a step from a version it read, as after a get on a reconnected socket', async function () {
        const counted = countingReads();
        const onA = manager(twoStepHandler(), { store: counted.store });
        const first = await onA.init(['test', null], CONTEXT);
        await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { name: 'ada' });
        expect(await onA.get(first.flow_id, CONTEXT.clientId)).to.deep.include({ step_id: 'code' });
        expect([counted.versions(), counted.records()]).to.deep.equal([1, 1]);
        expect(await onA.step(first.flow_id, CONTEXT.clientId, { code: '123' })).to.deep.include({ type: 'create_entry' });
        expect([counted.versions(), counted.records()]).to.deep.equal([1, 1]);
        expect(finished).to.deep.equal([{ name: 'ada', tries: 0 }]);
      });

      it('answers field errors only once the store shows the form they are about is current', async function () {
        const onA = manager(twoStepHandler());
        const first = await onA.init(['test', null], CONTEXT);
        await manager(twoStepHandler()).step(first.flow_id, CONTEXT.clientId, { name: 'ada' });
        // A's own write asks a name; the store's flow asks the code, which this answer gives.
        expect(await onA.step(first.flow_id, CONTEXT.clientId, { code: '123' })).to.deep.include({ type: 'create_entry' });
        expect(finished).to.deep.equal([{ name: 'ada', tries: 0 }]);
        // On a current form, the same kind of answer is refused with field errors, as ever.
        const second = await onA.init(['test', null], CONTEXT);
        expect(await onA.step(second.flow_id, CONTEXT.clientId, { code: '123' })).to.deep.include({ type: 'form', step_id: 'init' });
      });

      it('confirms the version with a read before running a handler that is not rerunnable, and runs it only on the current one', async function () {
        const runs: string[] = [];
        const sending = defineFlowHandler<{ sent: number }, 'init'>({
          key: ['test', null],
          initialState: () => ({ sent: 0 }),
          steps: {
            init: async ({ input, state }) => {
              if (input === undefined) return showForm('init', NameForm.dataSchema, state);
              // Stands for a code sent by mail, or a TOTP code marked used: not to be done on a version that is gone.
              runs.push(`sent to ${NameForm.read(input).name} after ${state.sent}`);
              return showForm('init', NameForm.dataSchema, { sent: state.sent + 1 });
            },
          },
        });
        const counted = countingReads();
        const onA = manager(sending, { store: counted.store });
        const first = await onA.init(['test', null], CONTEXT);
        await onA.step(first.flow_id, CONTEXT.clientId, { name: 'a' });
        expect(counted.versions()).to.equal(1);
        await manager(sending).step(first.flow_id, CONTEXT.clientId, { name: 'b' });
        await onA.step(first.flow_id, CONTEXT.clientId, { name: 'c' });
        expect(runs).to.deep.equal(['sent to a after 0', 'sent to b after 1', 'sent to c after 2']);
        expect((await store.getFlow(first.flow_id))?.version).to.equal(4);
      });

      it('confirms the version before a hand-over to a handler that is not rerunnable, undoing the first run', async function () {
        const effects: string[] = [];
        const started: string[] = [];
        const second = defineFlowHandler<{ name: string }, 'init'>({
          key: ['second', null],
          initialState: () => ({ name: '' }),
          steps: {
            init: async ({ input, state }) => {
              if (input === undefined) started.push(state.name);
              return showForm('init', CodeForm.dataSchema, state);
            },
          },
        });
        const first = seenNames(effects, (name, seen) => (name === 'next' ? handOver(['second', null], { name: seen }, noting(effects, name)) : null));
        const handOverManager = () =>
          bound(new FlowManager<TestContext>({
            store,
            contextCodec: TestContext,
            resolveHandler: (key) => (key[0] === 'test' ? first : key[0] === 'second' ? second : undefined),
            finish: async () => ({ kind: 'create_entry', result: 'unused' }),
          }));
        const onA = handOverManager();
        const flow = await onA.init(['test', null], CONTEXT);
        await handOverManager().step(flow.flow_id, CONTEXT.clientId, { name: 'on B' });
        expect(await onA.step(flow.flow_id, CONTEXT.clientId, { name: 'next' })).to.deep.include({ handler: ['test', null], step_id: 'init' });
        // The second handler started once, from the state B wrote; the run on A's stale copy was undone before it.
        expect(started).to.deep.equal(['on B']);
        expect(effects).to.deep.equal(['committed on B', 'discarded next', 'committed next']);
      });

      it('undoes the effects of a run on its own stale write, and commits those of the run on the stored flow', async function () {
        const effects: string[] = [];
        const handler = seenNames(effects, (name, seen) => (name === 'done' ? createEntry({ name: seen }, noting(effects, `done after ${seen}`)) : null));
        const onA = manager(handler);
        const first = await onA.init(['test', null], CONTEXT);
        await manager(handler).step(first.flow_id, CONTEXT.clientId, { name: 'on B' });
        expect(await onA.step(first.flow_id, CONTEXT.clientId, { name: 'done' })).to.deep.include({ type: 'create_entry' });
        expect(effects).to.deep.equal(['committed on B', 'discarded done after ', 'committed done after on B']);
        expect(finished).to.deep.equal([{ name: 'on B' }]);
      });

      it('answers not_found when another instance ended the flow after its own write', async function () {
        const onA = manager(twoStepHandler());
        const first = await onA.init(['test', null], CONTEXT);
        await manager(twoStepHandler()).abort(first.flow_id, CONTEXT.clientId);
        expect((await rejection(onA.step(first.flow_id, CONTEXT.clientId, { name: 'ada' }))).code).to.equal('not_found');
      });

      it('gives the next step the state as written when a failed step changed it in place', async function () {
        const changing = defineFlowHandler<{ tries: number }, 'init'>({
          key: ['test', null],
          initialState: () => ({ tries: 0 }),
          steps: {
            init: async ({ input, state }) => {
              if (input === undefined) return showForm('init', NameForm.dataSchema, state);
              if (NameForm.read(input).name === 'done') return createEntry({ tries: state.tries });
              // A handler bug: the state changed in place, then the step failed, so nothing was written.
              state.tries += 1;
              throw new Error('provider down');
            },
          },
        });
        const flows = manager(changing);
        const first = await flows.init(['test', null], CONTEXT);
        await rejectionOf(flows.step(first.flow_id, CONTEXT.clientId, { name: 'x' }));
        expect(await flows.step(first.flow_id, CONTEXT.clientId, { name: 'done' })).to.deep.include({ type: 'create_entry' });
        expect(finished).to.deep.equal([{ tries: 0 }]);
      });
    });

    describe('#get and #abort', function () {
      it('returns the current form, then nothing after abort', async function () {
        const flows = manager(twoStepHandler());
        const first = await flows.init(['test', null], CONTEXT);
        await flows.step(first.flow_id, CONTEXT.clientId, { name: 'ada' });
        expect(await flows.get(first.flow_id, CONTEXT.clientId)).to.deep.include({ step_id: 'code', flow_id: first.flow_id });
        await flows.abort(first.flow_id, CONTEXT.clientId);
        expect((await rejection(flows.get(first.flow_id, CONTEXT.clientId))).code).to.equal('not_found');
        expect((await rejection(flows.abort(first.flow_id, CONTEXT.clientId))).code).to.equal('not_found');
      });
    });
  });
}

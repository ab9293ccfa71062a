/** @flowgate/conformance: the black-box protocol suite of docs/protocol.md, run against any server by `flowgate-conformance`. */
import Mocha from 'mocha';
import { CaseGroup } from './builder.js';
import { adminCases } from './cases/admin.js';
import { authenticatedCases } from './cases/authenticated.js';
import { framingCases } from './cases/framing.js';
import { httpCases } from './cases/http.js';
import { limitCases } from './cases/limits.js';
import { loginFlowCases } from './cases/login-flows.js';
import { originCases } from './cases/origin.js';
import { stepUpCases } from './cases/step-up.js';
import { tokenCases } from './cases/tokens.js';
import { closeAllSockets } from './client.js';
import { KitContext } from './context.js';
import type { KitOptions } from './options.js';

export { parseOptions, USAGE, UsageError, type KitOptions } from './options.js';
export { SECTIONS, citation, type Section } from './sections.js';

/** The whole suite in a mocha instance, ready to run (reporter, timeout and grep from the options). */
export function buildKit(options: KitOptions): Mocha {
  const mocha = new Mocha({
    reporter: options.reporter,
    // TAP 13 opens with its version line, so a consumer knows the format before the first result.
    ...(options.reporter === 'tap' ? { reporterOptions: { tapVersion: '13' } } : {}),
    timeout: options.timeoutMs,
    ...(options.grep === undefined ? {} : { grep: options.grep }),
  });
  const context = new KitContext(options);
  const root = new CaseGroup(Mocha.Suite.create(mocha.suite, `Flowgate protocol conformance of ${options.url}`));
  root.describe('Phase 1 and framing', (group) => framingCases(group, context));
  root.describe('Limits', (group) => limitCases(group, context));
  root.describe('Login flows', (group) => loginFlowCases(group, context));
  root.describe('Origin', (group) => originCases(group, context));
  root.describe('Tokens', (group) => tokenCases(group, context));
  root.describe('The authenticated phase', (group) => authenticatedCases(group, context));
  root.describe('Step-up', (group) => stepUpCases(group, context));
  root.describe('User management', (group) => adminCases(group, context));
  root.describe('HTTP', (group) => httpCases(group, context));
  root.after(async () => {
    await context.cleanUp();
    closeAllSockets();
  });
  return mocha;
}

/** Runs the suite and resolves with the number of failed cases. */
export function runKit(options: KitOptions): Promise<number> {
  const mocha = buildKit(options);
  return new Promise((resolve) => mocha.run((failures) => resolve(failures)));
}

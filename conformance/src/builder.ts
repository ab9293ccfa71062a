/** Builds mocha suites in code: each case titled with the protocol section it checks, or pending with the reason it was skipped. */
import Mocha from 'mocha';
import { citation, type Section } from './sections.js';

export type CaseBody = (this: Mocha.Context) => Promise<void>;

export class CaseGroup {
  constructor(readonly suite: Mocha.Suite) {}

  /** A case: `title [protocol.md: section]`. */
  it(title: string, section: Section, body: CaseBody): void {
    this.suite.addTest(new Mocha.Test(`${title} ${citation(section)}`, body));
  }

  /**
   * A case that runs only when `missing` is undefined; otherwise it is pending, the reason in its title, so spec, tap and json
   * output all say why it did not run.
   */
  needs(missing: string | undefined, title: string, section: Section, body: CaseBody): void {
    if (missing === undefined) this.it(title, section, body);
    else this.suite.addTest(new Mocha.Test(`${title} ${citation(section)} (skipped: ${missing})`));
  }

  describe(title: string, build: (group: CaseGroup) => void): void {
    build(new CaseGroup(Mocha.Suite.create(this.suite, title)));
  }

  after(body: () => Promise<void> | void): void {
    this.suite.afterAll(async () => {
      await body();
    });
  }
}

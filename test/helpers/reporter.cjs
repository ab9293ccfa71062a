// Mocha's spec output plus the closing line CI reads: "N passed, N failed".
const Mocha = require('mocha');

class SpecWithTotals extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    runner.on(Mocha.Runner.constants.EVENT_TEST_PASS, () => { passed += 1; });
    runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, () => { failed += 1; });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      // After Spec's epilogue, so this is the last line printed.
      setImmediate(() => process.stdout.write(`${passed} passed, ${failed} failed\n`));
    });
  }
}

module.exports = SpecWithTotals;

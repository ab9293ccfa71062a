/** `flowgate-conformance`: parses the command line, runs the suite, exits 0 (all passed), 1 (a case failed) or 2 (bad arguments). */
import { parseOptions, runKit, USAGE, UsageError } from './index.js';

/** After the report, how long open handles may keep the process alive before it exits anyway (a hung server must not hang CI). */
const EXIT_GRACE_MS = 1_000;

async function main(): Promise<number> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`flowgate-conformance: ${error.message} (see --help)\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const failures = await runKit(options);
  return failures > 0 ? 1 : 0;
}

// A reader that stops early (`| head`) closes the pipe: that ends the run quietly rather than with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  },
  (error: unknown) => {
    process.stderr.write(`flowgate-conformance: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

#!/usr/bin/env node
/** flowgate-conformance: placeholder until the suite lands. */
process.stderr.write('flowgate-conformance: not built yet\n');
process.exit(2);

/** `npm run asyncapi`: writes docs/asyncapi.yaml from the codecs (test/unit/asyncapi.test.ts fails while it is out of date). */
import { writeFileSync } from 'node:fs';
import { renderAsyncApi } from './asyncapi/document.js';

const target = new URL('../docs/asyncapi.yaml', import.meta.url);
writeFileSync(target, renderAsyncApi());
process.stdout.write(`Wrote ${target.pathname}\n`);

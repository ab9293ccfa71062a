// Bundles the dashboard into dist/ (index.html, app.js, styles.css) with esbuild; run after `tsc -b` (it bundles the built client).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const here = (path) => join(import.meta.dirname, path);

rmSync(here('./dist'), { recursive: true, force: true });
mkdirSync(here('./dist'), { recursive: true });
await build({
  entryPoints: [here('./src/main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  outfile: here('./dist/app.js'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'styles.css']) copyFileSync(here(`./src/${file}`), here(`./dist/${file}`));

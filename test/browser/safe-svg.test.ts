/** The dashboard's QR-code guard in real headless Chromium: a server-made SVG is shown only when it holds nothing but shapes. */
import { expect } from 'chai';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import QRCode from 'qrcode';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';

const SAFE_SVG_SOURCE = fileURLToPath(new URL('../../clients/web/src/safe-svg.ts', import.meta.url));

/** The bundle's exports, as the page's global `SafeSvg` (the test's types have no DOM: an image is what it answers to). */
interface SafeSvgGlobal {
  readonly SafeSvg: { safeSvgImage(svg: string, alt: string): { getAttribute(name: string): string | null } | null };
}

describe('safeSvgImage (dashboard)', function () {
  this.timeout(60_000);
  let browser: Browser;
  let page: Page;

  before(async function () {
    const bundle = await build({ entryPoints: [SAFE_SVG_SOURCE], bundle: true, format: 'iife', globalName: 'SafeSvg', write: false, platform: 'browser' });
    browser = await launchBrowser();
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: bundle.outputFiles[0]?.text ?? '' });
  });
  after(async () => browser?.close());

  /** What `safeSvgImage` makes of `svg` in the page: null, or the image's src. */
  const shown = (svg: string): Promise<string | null> => page.evaluate((text) => (globalThis as unknown as SafeSvgGlobal).SafeSvg.safeSvgImage(text, 'QR')?.getAttribute('src') ?? null, svg);

  it('shows the qrcode package\'s SVG of an otpauth URI as a data: URL image', async function () {
    const svg = await QRCode.toString('otpauth://totp/Flowgate:ada?secret=JBSWY3DPEHPK3PXP&issuer=Flowgate', { type: 'svg' });
    expect(await shown(svg.replace(/^<\?xml[^>]*\?>\s*/, ''))).to.match(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/);
  });

  it('refuses an SVG with a script, an event handler, a link, foreign content, a url() paint or a style', async function () {
    const ns = 'xmlns="http://www.w3.org/2000/svg"';
    const attacks = [
      `<svg ${ns}><script>alert(1)</script><path d="M0 0h1"/></svg>`,
      `<svg ${ns} onload="alert(1)"><path d="M0 0h1"/></svg>`,
      `<svg ${ns} xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:alert(1)"><path d="M0 0h1"/></a></svg>`,
      `<svg ${ns}><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject></svg>`,
      `<svg ${ns}><path fill="url(https://evil.example/x)" d="M0 0h1"/></svg>`,
      `<svg ${ns}><path style="fill:red" d="M0 0h1"/></svg>`,
      `<svg ${ns}><path d="M0 0h1"></svg>`,
      `<html><body>not svg</body></html>`,
    ];
    for (const attack of attacks) expect(await shown(attack), attack).to.equal(null);
  });
});

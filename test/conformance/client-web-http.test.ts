/** The server serves the dashboard's static files at / (content types, caching, no way out of the web root), and keeps /healthz. */
import { expect } from 'chai';
import { request } from 'node:http';
import { useServer } from '../helpers/server-fixture.js';
import { buildDashboard } from '../helpers/web-build.js';

/** A GET with the path sent exactly as given (fetch would normalise `..` away). */
function rawGet(port: number, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('The dashboard over HTTP', function () {
  before(() => buildDashboard());
  const fixture = useServer(() => ({}));

  it('serves the page at / as HTML that must be revalidated', async function () {
    const response = await fetch(`${fixture.server().httpUrl}/`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).to.equal('no-cache');
    expect(await response.text()).to.include('<script type="module" src="/app.js"></script>');
  });

  it('serves the script and the styles with their content types and a cache lifetime', async function () {
    const script = await fetch(`${fixture.server().httpUrl}/app.js`);
    const styles = await fetch(`${fixture.server().httpUrl}/styles.css`);
    expect([script.headers.get('content-type'), styles.headers.get('content-type')]).to.deep.equal(['text/javascript; charset=utf-8', 'text/css; charset=utf-8']);
    expect(script.headers.get('cache-control')).to.equal('public, max-age=300');
  });

  it('answers 404 for paths that climb out of the web root', async function () {
    for (const path of ['/../package.json', '/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/%00index.html']) {
      expect((await rawGet(fixture.server().port, path)).status, path).to.equal(404);
    }
  });

  it('answers 404 for a file that does not exist', async function () {
    expect((await fetch(`${fixture.server().httpUrl}/nope.js`)).status).to.equal(404);
  });

  it('still answers /healthz', async function () {
    expect((await fetch(`${fixture.server().httpUrl}/healthz`)).status).to.equal(200);
  });
});

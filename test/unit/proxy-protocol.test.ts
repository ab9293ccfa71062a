/** PROXY protocol v1/v2: the parser on exact bytes, and the listener on real sockets (trusted and untrusted peers). */
import { expect } from 'chai';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, type Server as NetServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { clientAddressPolicy } from '../../server/src/defense/client-address.js';
import {
  createProxyProtocolListener,
  parseProxyHeader,
  proxiedAddress,
  PROXY_V2_MAX_BYTES,
} from '../../server/src/transport/proxy-protocol.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: `command` 0 LOCAL / 1 PROXY, `family` 1 INET / 2 INET6, with `tlvBytes` of padding TLV after the addresses. */
function v2(options: { command?: number; family?: number; source?: number[]; tlvBytes?: number; version?: number } = {}): Buffer {
  const family = options.family ?? 1;
  const addressBytes = family === 2 ? 16 : 4;
  const source = Buffer.from(options.source ?? (family === 2 ? [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 7] : [203, 0, 113, 7]));
  const destination = Buffer.alloc(addressBytes, 1);
  const ports = Buffer.from([0x30, 0x39, 0x1f, 0xbb]);
  const tlv = Buffer.alloc(options.tlvBytes ?? 0);
  const body = Buffer.concat([source, destination, ports, tlv]);
  const head = Buffer.alloc(4);
  head[0] = ((options.version ?? 2) << 4) | (options.command ?? 1);
  head[1] = (family << 4) | 1;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, head, body]);
}

const v1 = (line: string): Buffer => Buffer.from(`${line}\r\n`, 'latin1');

describe('PROXY protocol', function () {
  describe('#parseProxyHeader', function () {
    it('reads the source of a v1 TCP4 line and where the stream starts', function () {
      const data = Buffer.concat([v1('PROXY TCP4 198.51.100.22 203.0.113.7 35646 80'), Buffer.from('GET / HTTP/1.1\r\n')]);
      expect(parseProxyHeader(data)).to.deep.equal({ status: 'ok', header: { version: 1, source: '198.51.100.22' }, length: 47 });
    });

    it('reads a v1 TCP6 line, normalising the address', function () {
      const parsed = parseProxyHeader(v1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::2 1 2'));
      expect(parsed).to.deep.include({ status: 'ok', header: { version: 1, source: '2001:db8::1' } });
    });

    it('answers a null source for v1 UNKNOWN (the proxy speaking for itself)', function () {
      expect(parseProxyHeader(v1('PROXY UNKNOWN'))).to.deep.equal({ status: 'ok', header: { version: 1, source: null }, length: 15 });
    });

    it('refuses v1 lines with bad addresses, families, ports or field counts', function () {
      for (const line of [
        'PROXY TCP4 999.1.1.1 203.0.113.7 1 2',
        'PROXY TCP4 2001:db8::1 203.0.113.7 1 2',
        'PROXY TCP6 198.51.100.22 2001:db8::1 1 2',
        'PROXY UDP4 198.51.100.22 203.0.113.7 1 2',
        'PROXY TCP4 198.51.100.22 203.0.113.7 1 65536',
        'PROXY TCP4 198.51.100.22 203.0.113.7 01 2',
        'PROXY TCP4 198.51.100.22 203.0.113.7 1',
        'PROXY TCP4 198.51.100.22  203.0.113.7 1 2',
        'PROXY TCP4 localhost 203.0.113.7 1 2',
      ]) {
        expect(parseProxyHeader(v1(line)).status, line).to.equal('invalid');
      }
    });

    it('waits for more bytes on a partial v1 line, and refuses one past 107 bytes without CRLF', function () {
      expect(parseProxyHeader(Buffer.from('PRO'))).to.deep.equal({ status: 'incomplete' });
      expect(parseProxyHeader(Buffer.from('PROXY TCP4 198.51.100.22'))).to.deep.equal({ status: 'incomplete' });
      expect(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(101)}`)).status).to.equal('invalid');
    });

    it('reads the source of a v2 INET and INET6 header, TLVs skipped', function () {
      expect(parseProxyHeader(Buffer.concat([v2({ tlvBytes: 9 }), Buffer.from('GET')]))).to.deep.equal({
        status: 'ok',
        header: { version: 2, source: '203.0.113.7' },
        length: 16 + 12 + 9,
      });
      expect(parseProxyHeader(v2({ family: 2 }))).to.deep.include({ status: 'ok', header: { version: 2, source: '2001:db8::7' } });
    });

    it('turns a v2 IPv4-mapped IPv6 source into IPv4', function () {
      const mapped = [...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 9];
      expect(parseProxyHeader(v2({ family: 2, source: mapped }))).to.deep.include({ header: { version: 2, source: '192.0.2.9' } });
    });

    it('answers a null source for a v2 LOCAL header (haproxy health checks)', function () {
      expect(parseProxyHeader(v2({ command: 0 }))).to.deep.include({ status: 'ok', header: { version: 2, source: null } });
    });

    it('waits for the rest of a v2 header cut anywhere', function () {
      const header = v2({ tlvBytes: 5 });
      for (let cut = 1; cut < header.length; cut++) {
        expect(parseProxyHeader(header.subarray(0, cut)), `cut at ${cut}`).to.deep.equal({ status: 'incomplete' });
      }
    });

    it('refuses a v2 header with a wrong version, command, family or a length too short for its addresses', function () {
      expect(parseProxyHeader(v2({ version: 1 })).status).to.equal('invalid');
      expect(parseProxyHeader(v2({ command: 2 })).status).to.equal('invalid');
      expect(parseProxyHeader(v2({ family: 4 })).status).to.equal('invalid');
      const short = v2();
      short.writeUInt16BE(8, 14);
      expect(parseProxyHeader(short).status).to.equal('invalid');
    });

    it('refuses an oversized v2 header from its fixed part, before its body arrives', function () {
      const header = v2({ tlvBytes: PROXY_V2_MAX_BYTES });
      expect(parseProxyHeader(header.subarray(0, 16))).to.deep.include({ status: 'invalid' });
    });

    it('refuses anything else, such as a plain HTTP request', function () {
      expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).status).to.equal('invalid');
      expect(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])).status).to.equal('invalid');
    });
  });

  describe('#createProxyProtocolListener', function () {
    let http: HttpServer;
    let listener: NetServer;
    let port: number;
    const seen: Array<{ proxied: string | undefined; peer: string | undefined; path: string | undefined }> = [];

    /** Listens with 127.0.0.1 trusted (or nobody trusted); the HTTP server answers with what it knows of the socket. */
    async function listen(trusted: string[]): Promise<void> {
      http = createHttpServer((request, response) => {
        const socket = request.socket as Socket;
        seen.push({ proxied: proxiedAddress(socket), peer: socket.remoteAddress, path: request.url });
        response.end(proxiedAddress(socket) ?? 'none');
      });
      const policy = clientAddressPolicy({ useXForwardedFor: false, trustedProxies: trusted, proxyProtocol: true });
      listener = createProxyProtocolListener({ httpServer: http, policy, logger: pino({ level: 'silent' }), headerTimeoutMs: 300 });
      listener.listen(0, '127.0.0.1');
      await once(listener, 'listening');
      port = (listener.address() as { port: number }).port;
    }
    afterEach(async function () {
      seen.length = 0;
      http.closeAllConnections();
      await new Promise((resolve) => listener.close(resolve));
    });

    /** Sends `chunks` with a pause between them and resolves with everything the server sent before closing. */
    async function exchange(chunks: Buffer[], pauseMs = 20): Promise<string> {
      const socket = connect(port, '127.0.0.1');
      let reply = '';
      socket.on('data', (data: Buffer) => (reply += data.toString()));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      for (const chunk of chunks) {
        if (!socket.destroyed) socket.write(chunk);
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
      await closed;
      return reply;
    }
    const request = Buffer.from('GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');

    it('gives HTTP the bytes after a v2 header sent in the same packet, and records the client', async function () {
      await listen(['127.0.0.1']);
      const reply = await exchange([Buffer.concat([v2(), request])]);
      expect(reply).to.match(/^HTTP\/1.1 200/).and.match(/203\.0\.113\.7$/);
      expect(seen).to.deep.equal([{ proxied: '203.0.113.7', peer: '127.0.0.1', path: '/hello' }]);
    });

    it('reads a v1 header that arrives byte by byte, then the request in a later packet', async function () {
      await listen(['127.0.0.1']);
      const header = v1('PROXY TCP4 198.51.100.22 127.0.0.1 35646 80');
      const reply = await exchange([...[...header].map((byte) => Buffer.from([byte])), request], 2);
      expect(reply).to.match(/198\.51\.100\.22$/);
    });

    it('keeps the peer address for a LOCAL header', async function () {
      await listen(['127.0.0.1']);
      expect(await exchange([Buffer.concat([v2({ command: 0 }), request])])).to.match(/none$/);
      expect(seen[0]?.peer).to.equal('127.0.0.1');
    });

    it('drops a trusted peer that sends HTTP without a header, garbage, or an oversized header', async function () {
      await listen(['127.0.0.1']);
      expect(await exchange([request])).to.equal('');
      expect(await exchange([Buffer.from('\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff')])).to.equal('');
      expect(await exchange([Buffer.from(`PROXY ${'9'.repeat(200)}\r\n`)])).to.equal('');
      expect(seen).to.deep.equal([]);
    });

    it('drops a trusted peer whose header does not arrive in time', async function () {
      await listen(['127.0.0.1']);
      const started = Date.now();
      expect(await exchange([Buffer.from('PROXY TCP4 198.51.100.22')], 10)).to.equal('');
      expect(Date.now() - started).to.be.within(250, 2_000);
    });

    it('passes an untrusted peer to HTTP untouched, so its own PROXY header is not believed', async function () {
      await listen(['192.0.2.1']);
      expect(await exchange([request])).to.match(/^HTTP\/1.1 200[\s\S]*none$/);
      const forged = await exchange([Buffer.concat([v1('PROXY TCP4 198.51.100.22 127.0.0.1 1 2'), request])]);
      expect(forged).to.match(/^HTTP\/1.1 400/);
      expect(seen).to.deep.equal([{ proxied: undefined, peer: '127.0.0.1', path: '/hello' }]);
    });
  });
});

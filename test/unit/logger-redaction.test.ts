/** The server's logger never writes a secret: not at the top of a line, not one level down, not in an audit line. */
import { expect } from 'chai';
import { auditLogger, createLogger } from '../../server/src/main.js';

/** A logger writing into an array of parsed lines, as the server's would write to stdout. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('createLogger', function () {
  it('censors secret fields at the top of a line and one level down, and keeps the rest', function () {
    const { logger, lines } = capturedLogger();
    logger.info({ password: 'hunter2', user: 'alice', command: { type: 'auth', access_token: 'eyJ.secret', user_input: { pin: 1 } } }, 'x');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.deep.include({ password: '[redacted]', user: 'alice' });
    expect(lines[0]?.['command']).to.deep.equal({ type: 'auth', access_token: '[redacted]', user_input: '[redacted]' });
    expect(JSON.stringify(lines[0])).not.to.match(/hunter2|eyJ\.secret/);
  });
});

describe('auditLogger', function () {
  it('censors secret field names in audit lines and keeps the parent logger bindings', function () {
    const { logger, lines } = capturedLogger();
    const audit = auditLogger(logger.child({ instance: 'host-1' }));
    audit.info({ event: 'token_exchanged', code: 'authorization-code', token: 'opaque', refresh_token_id: 'id-1' }, 'audit: token_exchanged');
    expect(lines[0]).to.deep.include({ instance: 'host-1', event: 'token_exchanged', code: '[redacted]', token: '[redacted]', refresh_token_id: 'id-1' });
    expect(JSON.stringify(lines[0])).not.to.match(/authorization-code|opaque/);
  });
});

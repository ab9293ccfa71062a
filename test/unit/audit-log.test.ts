/** Audit lines are formatted and written after the turn that raised them: in order, never lost, even by a process that exits. */
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { auditLog } from '../../server/src/observability/audit.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('auditLog', function () {
  it('logs nothing during the turn that raised the events, then all of them in order once it ends', async function () {
    const lines: Array<Record<string, unknown>> = [];
    const audit = auditLog({ info: (fields: Record<string, unknown>, message: string) => void lines.push({ ...fields, message }) });
    audit('login_failed', { username: 'alice', address: '192.0.2.1', reason: 'invalid_auth' });
    audit('lockout', { username: 'alice', address: '192.0.2.1', kind: 'address' });
    expect(lines).to.deep.equal([]);
    await nextTurn();
    expect(lines.map((line) => [line['event'], line['message']])).to.deep.equal([
      ['login_failed', 'audit: login_failed'],
      ['lockout', 'audit: lockout'],
    ]);
    expect(lines[1]).to.deep.include({ kind: 'address', address: '192.0.2.1' });
    audit('ban', { address: '192.0.2.1' });
    await nextTurn();
    expect(lines.map((line) => line['event'])).to.deep.equal(['login_failed', 'lockout', 'ban']);
  });

  it('writes the events still waiting when the process exits in the same turn, through the real log destination', function () {
    // The server's log destination (pino, turn-batched stdout) in a child that raises two events and exits at once.
    const script = [
      "import { pino } from 'pino';",
      "import { logDestination } from './server/src/observability/log-destination.ts';",
      // The logger (and its destination's exit hook) first, the audit module after it: the order must not matter.
      "const logger = pino({ level: 'info' }, logDestination());",
      "const { auditLog } = await import('./server/src/observability/audit.ts');",
      'const audit = auditLog(logger);',
      "audit('login_failed', { username: 'alice', address: '192.0.2.1' });",
      "audit('lockout', { username: 'alice', address: '192.0.2.1', kind: 'address' });",
      'process.exit(0);',
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.status, child.stderr).to.equal(0);
    const events = child.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as Record<string, unknown>)['event']);
    expect(events).to.deep.equal(['login_failed', 'lockout']);
  });
});

/** Real login programs for the command_line provider's tests: shell scripts written into a test's own temporary folder. */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder for one test's scripts and the files they write. */
export function scriptFolder(): string {
  return mkdtempSync(join(tmpdir(), 'flowgate-login-program-'));
}

/**
 * Writes an executable `/bin/sh` script (mode 0755). The program gets no PATH, so its body names every tool by its absolute
 * path (/bin/cat, /bin/sleep), as a real login program must.
 */
export function writeScript(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * Accepts alice / wonderland and prints the contents of `meta.txt` in its folder (so a test can change what it prints
 * between logins); refuses anything else with exit status 1.
 */
export function metaScript(dir: string): string {
  writeMeta(dir, 'name=Alice Liddell\ngroup=system-read-only\nlocal_only=false');
  return writeScript(
    dir,
    'check-login.sh',
    `if [ "$username" = "alice" ] && [ "$password" = "wonderland" ]; then
  /bin/cat "${join(dir, 'meta.txt')}"
  exit 0
fi
exit 1`,
  );
}

export function writeMeta(dir: string, lines: string): void {
  writeFileSync(join(dir, 'meta.txt'), `${lines}\n`);
}

/** The environment the program was started with, exactly as exec'd (/proc/<pid>/environ: not what its shell adds since). */
export const DUMP_ENV = (file: string): string => `/bin/cat /proc/$$/environ > "${file}"`;

export function readEnvDump(file: string): Record<string, string> {
  const entries = readFileSync(file, 'utf8').split('\0').filter((pair) => pair !== '');
  return Object.fromEntries(entries.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

/** A script that writes its own pid and that of a child `sleep`, then sleeps: for the timeout tests. */
export function sleeperScript(dir: string): { path: string; pidFiles: string[] } {
  const pidFiles = [join(dir, 'shell.pid'), join(dir, 'child.pid')];
  const path = writeScript(dir, 'sleeper.sh', `echo $$ > "${pidFiles[0]}"\n/bin/sleep 30 &\necho $! > "${pidFiles[1]}"\nwait`);
  return { path, pidFiles };
}

export function readPids(files: readonly string[]): number[] {
  return files.filter((file) => existsSync(file)).map((file) => Number(readFileSync(file, 'utf8').trim()));
}

/** True once the process is gone: no such pid, or a zombie (dead, waiting for a parent that may never reap it in a container). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ...", comm may hold spaces and parentheses, so read the state after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

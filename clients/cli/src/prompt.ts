/** Line input for the terminal login: a terminal (with hidden input for secrets), or one line per answer from a pipe. */
import { createInterface, type Interface } from 'node:readline';
import { Writable, type Readable } from 'node:stream';

export interface Prompter {
  readonly interactive: boolean;
  /** True once the person pressed Ctrl-C at a prompt (the input then ends). */
  readonly cancelled: boolean;
  /** Shows `label` and returns the line typed (undefined when the input ended). */
  ask(label: string, options?: { hidden?: boolean }): Promise<string | undefined>;
  close(): void;
}

/** Reads answers from a pipe: one line per prompted field. Prompts are not shown, so stderr carries only a failure. */
export function pipePrompter(input: Readable): Prompter {
  const lines: string[] = [];
  const waiters: Array<(line: string | undefined) => void> = [];
  let ended = false;
  const rl = createInterface({ input, terminal: false });
  rl.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter === undefined) lines.push(line);
    else waiter(line);
  });
  rl.on('close', () => {
    ended = true;
    waiters.splice(0).forEach((w) => w(undefined));
  });
  return {
    interactive: false,
    cancelled: false,
    ask() {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (ended) return Promise.resolve(undefined);
      return new Promise((resolve) => waiters.push(resolve));
    },
    close: () => rl.close(),
  };
}

/** Asks on a terminal; hidden answers are not echoed. */
export function terminalPrompter(input: Readable, out: NodeJS.WritableStream): Prompter {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) out.write(chunk);
      callback();
    },
  });
  const rl: Interface = createInterface({ input, output, terminal: true });
  let closed = false;
  let cancelled = false;
  rl.on('close', () => (closed = true));
  // Ctrl-C: end the line the prompt is on, so the message that follows starts on its own.
  rl.on('SIGINT', () => {
    cancelled = true;
    out.write('\n');
    rl.close();
  });
  return {
    interactive: true,
    get cancelled() {
      return cancelled;
    },
    ask(label, options = {}) {
      if (closed) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const onClose = (): void => resolve(undefined);
        rl.once('close', onClose);
        // The label's last line is readline's own prompt: readline clears its line to redraw it as keys are typed, so a
        // label written around it would vanish from the screen at once.
        const lastLine = label.lastIndexOf('\n') + 1;
        out.write(label.slice(0, lastLine));
        rl.question(`${label.slice(lastLine)} `, (answer) => {
          rl.off('close', onClose);
          if (muted) out.write('\n');
          muted = false;
          resolve(answer);
        });
        // Muted only once question() has drawn the prompt: from here on, nothing typed is echoed.
        muted = options.hidden === true;
      });
    },
    close: () => rl.close(),
  };
}

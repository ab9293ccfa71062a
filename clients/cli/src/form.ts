/** Turns a form's `data_schema` into prompts, and the answers into `user_input` of the right JSON types. */
import { describeFormErrors, MFA_MODULE_FIELD, type FormResult, type SchemaField } from '@flowgate/client';
import type { Prompter } from './prompt.js';

/** A string field is asked with hidden input when its name says it is a secret (password, passphrase, token, code, otp...). */
export const HIDDEN_FIELD = /pass(word|phrase)?|secret|token|code|otp|pin$/i;

export class AnswerError extends Error {}

export function isHidden(field: SchemaField): boolean {
  return field.type === 'string' && HIDDEN_FIELD.test(field.name);
}

/** Fields whose name reads badly as a label (Home Assistant's names, kept on the wire). */
const LABELS: Readonly<Record<string, string>> = { [MFA_MODULE_FIELD]: 'Two-factor method' };

export function labelOf(field: SchemaField): string {
  if (Object.hasOwn(LABELS, field.name)) return LABELS[field.name] ?? field.name;
  const words = field.name.replace(/_/g, ' ');
  return `${words.charAt(0).toUpperCase()}${words.slice(1)}`;
}

/** Parses one typed line for `field`; throws AnswerError with words a person understands. Undefined means "leave it out". */
export function parseAnswer(field: SchemaField, line: string): unknown {
  const text = field.type === 'string' ? line : line.trim();
  if (text === '' && field.type !== 'boolean') {
    if (field.default !== undefined || field.optional === true) return undefined;
    if (field.type === 'string') return '';
    throw new AnswerError(`${labelOf(field)} is required.`);
  }
  switch (field.type) {
    case 'string':
      return text;
    case 'integer':
    case 'float': {
      const value = Number(text);
      if (!Number.isFinite(value) || (field.type === 'integer' && !Number.isInteger(value))) {
        throw new AnswerError(`${labelOf(field)} must be ${field.type === 'integer' ? 'a whole number' : 'a number'}.`);
      }
      return value;
    }
    case 'boolean': {
      if (text === '') {
        if (typeof field.default === 'boolean') return field.default;
        return field.optional === true ? undefined : false;
      }
      if (/^(y|yes|true|1)$/i.test(text)) return true;
      if (/^(n|no|false|0)$/i.test(text)) return false;
      throw new AnswerError(`${labelOf(field)}: answer y or n.`);
    }
    case 'select': {
      const byNumber = /^\d+$/.test(text) ? field.options[Number(text) - 1] : undefined;
      const option = byNumber ?? field.options.find(([value]) => value === text);
      if (option === undefined) throw new AnswerError(`${labelOf(field)}: choose a number from 1 to ${field.options.length}.`);
      return option[0];
    }
  }
}

function promptFor(field: SchemaField): string {
  const notes: string[] = [];
  if (field.optional === true) notes.push('optional');
  if (field.default !== undefined) notes.push(`default ${JSON.stringify(field.default)}`);
  if (field.type === 'boolean') notes.push('y/n');
  const choices = field.type === 'select' ? field.options.map(([value, label], i) => `  ${i + 1}) ${label || value}`).join('\n') + '\n' : '';
  const note = notes.length > 0 ? ` (${notes.join(', ')})` : '';
  const description = field.description === undefined ? '' : `${field.description}\n`;
  return `${description}${choices}${labelOf(field)}${note}:`;
}

/** Asks every field of `form`, in schema order; on a terminal a value that does not parse is asked again. */
export async function askForm(form: FormResult, prompter: Prompter, out: NodeJS.WritableStream): Promise<Record<string, unknown>> {
  const input: Record<string, unknown> = {};
  for (const field of form.data_schema) {
    for (;;) {
      const line = await prompter.ask(promptFor(field), { hidden: isHidden(field) });
      if (line === undefined) {
        throw new AnswerError(prompter.cancelled ? 'Cancelled.' : `The input ended before ${labelOf(field)} was answered.`);
      }
      try {
        const value = parseAnswer(field, line);
        if (value !== undefined) input[field.name] = value;
        break;
      } catch (error) {
        if (!(error instanceof AnswerError) || !prompter.interactive) throw error;
        out.write(`${error.message}\n`);
      }
    }
  }
  return input;
}

/** The form's errors in words, one per line: `Password: This field is required.` (`base` errors stand alone). */
export function formErrorLines(form: FormResult): string[] {
  const fields = new Map(form.data_schema.map((f) => [f.name, f]));
  return describeFormErrors(form).map(([name, words]) => {
    const field = fields.get(name);
    return name === 'base' ? words : `${field === undefined ? name : labelOf(field)}: ${words}`;
  });
}

/** The page's one card and its status line: every view of the dashboard is drawn through these. */
import { h } from './dom.js';

const app = document.getElementById('app') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;

export function setStatus(text: string): void {
  status.textContent = text;
  status.hidden = text === '';
}

/** Replaces the card's content and moves focus to its heading, so screen readers announce the new view. */
export function show(title: string, ...content: Array<Node | null>): HTMLHeadingElement {
  const heading = h('h1', { tabindex: -1 }, title);
  app.classList.toggle('wide', content.some((n) => n instanceof HTMLTableElement));
  app.replaceChildren(heading, ...content.filter((n): n is Node => n !== null));
  return heading;
}

export function notice(text: string | undefined, kind: 'info' | 'error' = 'info'): HTMLElement | null {
  if (text === undefined) return null;
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

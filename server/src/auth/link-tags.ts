/** Finds the `<link rel="redirect_uri" href="...">` elements of an HTML page's first bytes, with a small tag scanner. */

/**
 * The rel keyword IndieAuth clients declare their redirect URIs with (IndieAuth 4.2.2). The page is read by this scanner
 * rather than an HTML library because only `<link>` start tags matter, in at most MAX_PAGE_BYTES of text, and no HTML
 * parser is a dependency of the server.
 */
export const REDIRECT_URI_REL = 'redirect_uri';

/**
 * Elements whose content is text, not markup (HTML's raw text and escapable raw text elements): a `<link>` inside a
 * script, a style sheet, a title or a textarea declares nothing, as a browser would not see an element there either.
 */
const TEXT_ONLY_ELEMENTS = new Set(['script', 'style', 'title', 'textarea']);

/** A start tag's name right after `<`: a letter, then anything up to white space, `/` or `>` (HTML's tag name state). */
const TAG_NAME = /<([a-zA-Z][^\s/>]*)/y;
/** HTML's ASCII white space: tab, line feed, form feed, carriage return, space. */
const WHITE_SPACE = /[\t\n\f\r ]/;

/** The handful of character references a URL in an attribute plausibly contains; any other `&...;` is left as written. */
const NAMED_REFERENCES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeReferences(value: string): string {
  return value.replace(/&(?:#[xX]([0-9a-fA-F]{1,6})|#(\d{1,7})|([a-zA-Z]+));/g, (whole, hex?: string, decimal?: string, name?: string) => {
    if (name !== undefined) return NAMED_REFERENCES[name] ?? whole;
    const code = hex !== undefined ? parseInt(hex, 16) : Number(decimal);
    return code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : '\ufffd';
  });
}

interface Tag {
  /** Attribute names in lower case; the first of a repeated attribute wins, as in a browser. */
  readonly attributes: ReadonlyMap<string, string>;
  /** The index just past the tag's `>`. */
  readonly end: number;
}

/** Reads the attributes of a start tag from `start` (just past its name); null when the text ends inside the tag. */
function readTag(html: string, start: number): Tag | null {
  const attributes = new Map<string, string>();
  let i = start;
  const skipSpace = (): void => {
    while (i < html.length && WHITE_SPACE.test(html.charAt(i))) i += 1;
  };
  for (;;) {
    skipSpace();
    if (i >= html.length) return null;
    const char = html.charAt(i);
    if (char === '>') return { attributes, end: i + 1 };
    if (char === '/') {
      i += 1;
      continue;
    }
    // An attribute name runs to white space, `/`, `>` or `=` (a leading `=` belongs to the name, as in HTML).
    const nameStart = i;
    i += 1;
    while (i < html.length && !/[\t\n\f\r />=]/.test(html.charAt(i))) i += 1;
    const name = html.slice(nameStart, i).toLowerCase();
    skipSpace();
    let value = '';
    if (html.charAt(i) === '=') {
      i += 1;
      skipSpace();
      const quote = html.charAt(i);
      if (quote === '"' || quote === "'") {
        const close = html.indexOf(quote, i + 1);
        if (close < 0) return null;
        value = html.slice(i + 1, close);
        i = close + 1;
      } else {
        const valueStart = i;
        while (i < html.length && !/[\t\n\f\r >]/.test(html.charAt(i))) i += 1;
        value = html.slice(valueStart, i);
      }
    }
    if (!attributes.has(name)) attributes.set(name, decodeReferences(value));
  }
}

/** The index just past the end tag `</name>` from `from`, or -1 when the text ends first. */
function skipTextContent(html: string, name: string, from: number): number {
  const endTag = new RegExp(`</${name}[\\t\\n\\f\\r />]`, 'gi');
  endTag.lastIndex = from;
  const match = endTag.exec(html);
  if (match === null) return -1;
  const close = html.indexOf('>', match.index);
  return close < 0 ? -1 : close + 1;
}

/**
 * The `href` of every `<link>` whose `rel` keywords include `redirect_uri` (keywords are space-separated and compared in any
 * case, so `rel="redirect_uri other"` counts), resolved against `baseUrl` as HA does (against the client id, not the URL a
 * redirect may have led to; `<base>` is not read), in page order. Links with an empty href name the page itself, not a
 * redirect target, and are skipped, as are hrefs that are not URLs. Comments and the content of text-only elements are
 * skipped; a tag cut off by the end of the text is ignored.
 */
export function findRedirectUriLinks(html: string, baseUrl: string): string[] {
  const found: string[] = [];
  let i = 0;
  while ((i = html.indexOf('<', i)) >= 0) {
    if (html.startsWith('<!--', i)) {
      const close = html.indexOf('-->', i + 4);
      if (close < 0) break;
      i = close + 3;
      continue;
    }
    TAG_NAME.lastIndex = i;
    const name = TAG_NAME.exec(html)?.[1]?.toLowerCase();
    if (name === undefined) {
      // An end tag, a doctype, or a `<` in text: nothing declared here.
      i += 1;
      continue;
    }
    const tag = readTag(html, i + 1 + name.length);
    if (tag === null) break;
    i = tag.end;
    if (TEXT_ONLY_ELEMENTS.has(name)) {
      i = skipTextContent(html, name, i);
      if (i < 0) break;
      continue;
    }
    if (name !== 'link') continue;
    const rel = (tag.attributes.get('rel') ?? '').toLowerCase().split(/[\t\n\f\r ]+/);
    const href = tag.attributes.get('href')?.trim() ?? '';
    if (!rel.includes(REDIRECT_URI_REL) || href === '') continue;
    const resolved = URL.canParse(href, baseUrl) ? new URL(href, baseUrl).href : null;
    if (resolved !== null) found.push(resolved);
  }
  return found;
}

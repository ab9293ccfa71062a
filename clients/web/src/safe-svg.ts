/**
 * Shows a server-made SVG (the TOTP setup's QR code) without trusting it: parsed as SVG, kept only when it holds nothing but
 * shapes, and shown as an <img> from a data: URL, where no script of it could run even if one slipped through.
 */
import { h } from './dom.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** The elements a QR code needs (the `qrcode` package draws with <path>; others draw with <rect> in a <g>). */
const ALLOWED_ELEMENTS = new Set(['svg', 'g', 'path', 'rect']);
/** Geometry and paint only: no event handler, no href, no style sheet, nothing that loads or runs anything. */
const ALLOWED_ATTRIBUTES = new Set(['xmlns', 'version', 'viewBox', 'width', 'height', 'shape-rendering', 'fill', 'stroke', 'stroke-width', 'd', 'x', 'y', 'transform']);
/** A paint or size value is a colour, a number or a path: never a url(...) or an escape that could become one. */
const SAFE_VALUE = /^[#\w\s.,\-()%]*$/;
/** A QR code of an otpauth URI is a few kB; anything much larger is not one. */
const MAX_SVG_LENGTH = 100_000;

/** The SVG document's root when every element and attribute is on the lists above, else null. */
function checkedSvg(text: string): SVGSVGElement | null {
  if (text.length > MAX_SVG_LENGTH) return null;
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = doc.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== 'svg' || doc.getElementsByTagName('parsererror').length > 0) return null;
  for (const element of [root, ...Array.from(root.querySelectorAll('*'))]) {
    if (element.namespaceURI !== SVG_NS || !ALLOWED_ELEMENTS.has(element.localName)) return null;
    for (const attribute of Array.from(element.attributes)) {
      if (!ALLOWED_ATTRIBUTES.has(attribute.name)) return null;
      if (attribute.name === 'xmlns' ? attribute.value !== SVG_NS : /url\s*\(/i.test(attribute.value) || !SAFE_VALUE.test(attribute.value)) return null;
    }
  }
  return root as unknown as SVGSVGElement;
}

/** An <img> showing `svgText`, or null when the SVG holds anything but shapes (the page then shows the secret alone). */
export function safeSvgImage(svgText: string, alt: string): HTMLImageElement | null {
  const svg = checkedSvg(svgText);
  if (svg === null) return null;
  const serialized = new XMLSerializer().serializeToString(svg);
  // The page's CSP allows images from data: URLs only (img-src 'self' data:), which is what this is.
  return h('img', { src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(serialized)}`, alt, class: 'qr-code', width: 200, height: 200 });
}

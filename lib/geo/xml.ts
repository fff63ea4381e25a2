// A small, strict XML reader for the documents the pipeline reads (ESA acquisition-plan KML): elements,
// attributes, text, CDATA, comments, the XML declaration and a DOCTYPE without an internal subset. Every
// element keeps its line and column, and malformed input is an XmlSyntaxError at a line and column,
// so a bad plan file is reported where it is bad. Namespaces are not resolved: names keep no prefix.

export interface XmlElement {
  /** Local name (a `kml:` prefix is dropped). */
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** The element's own text (CDATA included, entities decoded), children's text excluded. */
  text: string;
  readonly line: number;
  readonly column: number;
}

export class XmlSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_][\w.\-:]*/y;
const SPACE = /\s*/y;
const EQUALS = /\s*=\s*/y;
/** Length of the match of a sticky pattern at `offset` (0 when it does not match). */
const matchAt = (pattern: RegExp, text: string, offset: number): number => {
  pattern.lastIndex = offset;
  return pattern.exec(text)?.[0].length ?? 0;
};
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Line starts, for turning an offset into line and column (1-based). */
function positions(text: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo] + 1 };
  };
}

/** Parse a whole document; returns its root element. */
export function parseXml(input: string): XmlElement {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const at = positions(text);
  const fail = (message: string, offset: number): never => {
    const { line, column } = at(offset);
    throw new XmlSyntaxError(message, line, column);
  };
  const decode = (raw: string, offset: number): string =>
    raw.replace(/&([^;\s&<]*);?/g, (whole, name: string, index: number) => {
      if (!whole.endsWith(';')) fail(`"&" must start an entity such as &amp; (got "${whole.slice(0, 12)}")`, offset + index);
      if (name in ENTITIES) return ENTITIES[name];
      const code = /^#x([0-9a-f]+)$/i.exec(name) ? parseInt(name.slice(2), 16) : /^#(\d+)$/.exec(name) ? Number(name.slice(1)) : NaN;
      if (!Number.isFinite(code) || code > 0x10ffff) return fail(`unknown entity &${name};`, offset + index);
      return String.fromCodePoint(code);
    });
  const localName = (name: string): string => name.slice(name.indexOf(':') + 1);

  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const end = lt < 0 ? text.length : lt;
    if (end > i) {
      const raw = text.slice(i, end);
      if (stack.length > 0) stack[stack.length - 1].text += decode(raw, i);
      else if (raw.trim() !== '') fail(root ? 'text after the root element' : 'text before the root element', i + raw.search(/\S/));
      if (raw.includes(']]>')) fail('"]]>" outside a CDATA section', i + raw.indexOf(']]>'));
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const close = text.indexOf('-->', i + 4);
      if (close < 0) fail('comment is not closed (no "-->")', i);
      i = close + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const close = text.indexOf(']]>', i + 9);
      if (close < 0) fail('CDATA section is not closed (no "]]>")', i);
      if (stack.length === 0) fail('CDATA outside the root element', i);
      stack[stack.length - 1].text += text.slice(i + 9, close);
      i = close + 3;
    } else if (text.startsWith('<?', i)) {
      const close = text.indexOf('?>', i + 2);
      if (close < 0) fail('processing instruction is not closed (no "?>")', i);
      i = close + 2;
    } else if (text.startsWith('<!DOCTYPE', i)) {
      const close = text.indexOf('>', i);
      if (close < 0 || text.slice(i, close).includes('[')) fail('a DOCTYPE with an internal subset is not supported', i);
      i = close + 1;
    } else if (text.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const name = NAME.exec(text)?.[0];
      if (!name) return fail('end tag without a name', i);
      const close = i + 2 + name.length + matchAt(SPACE, text, i + 2 + name.length);
      if (text[close] !== '>') fail(`end tag </${name} is not closed with ">"`, close);
      const open = stack.pop();
      if (!open) fail(`end tag </${name}> without a start tag`, i);
      else if (open.name !== localName(name)) fail(`end tag </${name}> does not close <${open.name}> (opened at line ${open.line}, column ${open.column})`, i);
      i = close + 1;
    } else {
      NAME.lastIndex = i + 1;
      const name = NAME.exec(text)?.[0];
      if (!name) return fail('"<" must start a tag (write &lt; in text)', i);
      const { line, column } = at(i);
      const attributes: Record<string, string> = {};
      let j = i + 1 + name.length;
      for (;;) {
        const space = matchAt(SPACE, text, j);
        j += space;
        if (text.startsWith('/>', j) || text[j] === '>') break;
        if (j >= text.length) fail(`start tag <${name} is not closed`, i);
        if (space === 0) fail(`expected whitespace, ">" or "/>" in <${name}>`, j);
        NAME.lastIndex = j;
        const attribute = NAME.exec(text)?.[0];
        if (!attribute) fail(`bad attribute in <${name}>`, j);
        j += attribute!.length;
        const eq = matchAt(EQUALS, text, j);
        if (eq === 0) fail(`attribute ${attribute} of <${name}> has no "=value"`, j);
        j += eq;
        const quote = text[j];
        if (quote !== '"' && quote !== "'") fail(`attribute ${attribute} of <${name}>: the value must be quoted`, j);
        const closeQuote = text.indexOf(quote, j + 1);
        if (closeQuote < 0) fail(`attribute ${attribute} of <${name}>: the value is not closed`, j);
        const value = text.slice(j + 1, closeQuote);
        if (value.includes('<')) fail(`attribute ${attribute} of <${name}>: "<" in a value`, j + 1 + value.indexOf('<'));
        if (localName(attribute!) in attributes) fail(`attribute ${attribute} appears twice in <${name}>`, j);
        attributes[localName(attribute!)] = decode(value, j + 1);
        j = closeQuote + 1;
      }
      const element: XmlElement = { name: localName(name), attributes, children: [], text: '', line, column };
      if (stack.length > 0) stack[stack.length - 1].children.push(element);
      else if (root) fail(`a second root element <${name}>`, i);
      else root = element;
      if (text.startsWith('/>', j)) i = j + 2;
      else {
        stack.push(element);
        i = j + 1;
      }
    }
  }
  if (stack.length > 0) {
    const open = stack[stack.length - 1];
    throw new XmlSyntaxError(`<${open.name}> (line ${open.line}, column ${open.column}) is not closed at the end of the file`, at(text.length).line, at(text.length).column);
  }
  if (!root) return fail('no root element', 0);
  return root;
}

/** Direct children named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

/** Every descendant named `name`, in document order. */
export function descendantsNamed(element: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (node: XmlElement): void => {
    for (const child of node.children) {
      if (child.name === name) found.push(child);
      walk(child);
    }
  };
  walk(element);
  return found;
}

// Diagnostics for pipeline.yaml: turn JSON Schema errors into one sentence per problem (every problem,
// not only the first: ajv runs with allErrors), and find where a path into the document stands in the
// file (a span: file:line:col to endLine:endCol) for any error message.
import type { Document, Node } from 'yaml';
import type { ErrorObject } from 'ajv';
import { UserError, type Location } from '../sdk/errors.js';
import { yaml } from './lazy-modules.js';

export type Locate = (p: readonly (string | number)[], key?: boolean) => Location;

/** Keywords that only say "a branch did not match": a deeper or sibling error explains them. */
const SUMMARY = new Set(['oneOf', 'anyOf', 'if', 'type']);

/**
 * Every distinct problem among ajv's errors, each as one located UserError. ajv reports each failing
 * branch of a oneOf, and both a misspelt key and the required key it was meant to be: keep the most
 * specific error per place, and merge "must be a string" / "must be an object" into one sentence.
 */
export function schemaErrors(errors: readonly ErrorObject[], locate: Locate): UserError[] {
  const unique = new Map<string, ErrorObject>();
  for (const error of errors) unique.set(`${error.instancePath}\0${error.keyword}\0${JSON.stringify(error.params)}`, error);
  const all = [...unique.values()];
  const specific = all.filter((error) => !SUMMARY.has(error.keyword) || !all.some((other) => other !== error && !SUMMARY.has(other.keyword) && within(other.instancePath, error.instancePath)));
  const kept = specific.filter((error) => {
    if (error.keyword === 'oneOf' || error.keyword === 'anyOf' || error.keyword === 'if') return !specific.some((o) => o.keyword === 'type' && o.instancePath === error.instancePath);
    if (error.keyword !== 'required') return true;
    // A misspelt key beside it (ouputs) explains the missing one (outputs).
    const missing = (error.params as { missingProperty: string }).missingProperty;
    const unknown = specific.filter((o) => o.keyword === 'additionalProperties' && o.instancePath === error.instancePath).map((o) => (o.params as { additionalProperty: string }).additionalProperty);
    return !unknown.some((key) => closest(key, [missing]) !== undefined);
  });
  // ajv reports each alternative's type separately: one sentence ("must be a string or an object") per place.
  const typesAt = new Map<string, string[]>();
  for (const error of kept.filter((e) => e.keyword === 'type')) {
    const types = typesAt.get(error.instancePath) ?? [];
    types.push((error.params as { type: string }).type);
    typesAt.set(error.instancePath, types);
  }
  const seenType = new Set<string>();
  return kept.filter((e) => e.keyword !== 'type' || (!seenType.has(e.instancePath) && Boolean(seenType.add(e.instancePath)))).map((error) => schemaError(error, locate, typesAt.get(error.instancePath)));
}

/** `inner` is `outer` or a path below it. */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(`${outer}/`);
}

/** One ajv error as a sentence at its place (`types`: every type the value could have had). */
export function schemaError(error: ErrorObject, locate: Locate, types?: readonly string[]): UserError {
  const path = pointerToPath(error.instancePath);
  const subject = describePath(path);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      return new UserError('SCHEMA', `unknown key "${key}"${subject ? ` in ${subject}` : ' at the top level'}${suggestion(error, key)}`, locate([...path, key], true));
    }
    case 'required':
      return new UserError('SCHEMA', `${subject || 'the pipeline'} is missing the required key "${(error.params as { missingProperty: string }).missingProperty}"`, locate(path, true));
    case 'enum':
      return new UserError('SCHEMA', `${subject} must be one of: ${((error.params as { allowedValues: unknown[] }).allowedValues).join(', ')}`, locate(path));
    case 'type':
      return new UserError('SCHEMA', `${subject || 'the pipeline'} must be ${(types ?? [(error.params as { type: string }).type]).map(article).join(' or ')}`, locate(path));
    case 'maxProperties':
    case 'minProperties':
      // An item of a `columns:` list written as a mapping of several columns (or none).
      if (path.length >= 2 && path[path.length - 2] === 'columns' && typeof path[path.length - 1] === 'number') {
        return new UserError('SCHEMA', `${subject} must be one \`name: TYPE\`, a column name, or \`include: TABLE\` (write each column as its own item)`, locate(path));
      }
      return new UserError('SCHEMA', `${subject || 'the pipeline'} ${error.message}`, locate(path));
    case 'propertyNames':
    case 'pattern':
      return new UserError('SCHEMA', `${subject || 'a name'} ${error.message}`, locate(path, true));
    default:
      return new UserError('SCHEMA', `${subject || 'the pipeline'} ${error.message}`, locate(path));
  }
}

/** "(did you mean "outputs"?)" for a near miss, else the allowed keys. */
function suggestion(error: ErrorObject, key: string): string {
  const allowed = Object.keys(((error.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties) ?? {});
  if (allowed.length === 0) return '';
  const near = closest(key, allowed);
  return near ? ` (did you mean "${near}"?)` : ` (allowed: ${allowed.join(', ')})`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function describePath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '';
  if (path[0] === 'steps' && path.length >= 2) {
    const rest = path.slice(2);
    return rest.length === 0 ? `step "${path[1]}"` : `step "${path[1]}" ${rest.join('.')}`;
  }
  return `"${path.join('.')}"`;
}

/** Start and end offsets of a node (or, with key=true, of its key) for a path into the document: as deep as the path exists. */
export function rangeOf(doc: Document, path: readonly (string | number)[], key: boolean): [number, number] {
  const { isMap, isPair, isScalar } = yaml();
  let node: unknown = doc.contents;
  const top = (doc.contents as Node | null)?.range;
  let best: [number, number] = top ? [top[0], top[0]] : [0, 0];
  for (let i = 0; i < path.length; i += 1) {
    if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    const segment = path[i];
    let next: unknown;
    for (const item of items) {
      if (isPair(item)) {
        const k = isScalar(item.key) ? item.key.value : item.key;
        if (String(k) === String(segment)) {
          const keyNode = item.key as Node | null;
          const valueNode = item.value as Node | null;
          const last = i === path.length - 1;
          if (last && key && keyNode?.range) return [keyNode.range[0], keyNode.range[1]];
          const range = valueNode?.range ?? keyNode?.range;
          if (range) best = [range[0], range[1]];
          if (last && !valueNode && keyNode?.range) best = [keyNode.range[0], keyNode.range[1]];
          next = valueNode;
          break;
        }
      } else if (typeof segment === 'number' && items.indexOf(item) === segment) {
        const range = (item as Node).range;
        if (range) best = [range[0], range[1]];
        next = item;
        break;
      }
    }
    if (next === undefined) break;
    node = next;
  }
  return best;
}

/** The candidate closest to `name` by edit distance, when it is close enough to be a typo. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  // Optimal string alignment: insert, delete, substitute, or swap two neighbours (ouptuts), each 1.
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) current[j] = Math.min(current[j], before[j - 2] + 1);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length];
}

/**
 * The file's text, or a located error at the first byte that is not UTF-8 (decoding with
 * replacement would turn a 0xFF in a path into U+FFFD and build a file nobody named).
 */
export function decodeUtf8(bytes: Uint8Array, shown: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const before = new TextDecoder().decode(bytes.subarray(0, bad));
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    throw new UserError('YAML_SYNTAX', `byte 0x${bytes[bad].toString(16).toUpperCase().padStart(2, '0')} is not UTF-8; the pipeline file must be UTF-8 text`, `${shown}:${line}:${col}`);
  }
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k += 1) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    // Overlong forms and surrogates the fatal decoder also refuses.
    if ((b === 0xe0 && bytes[i + 1] < 0xa0) || (b === 0xed && bytes[i + 1] > 0x9f) || (b === 0xf0 && bytes[i + 1] < 0x90) || (b === 0xf4 && bytes[i + 1] > 0x8f)) return i;
    i += need + 1;
  }
  return 0;
}

/** Offset of the first key that repeats an earlier key of its map, in one pass over the document. */
export function duplicateKey(doc: Document): number | undefined {
  const { visit, isScalar } = yaml();
  let found: number | undefined;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        const id = isScalar(key) ? `${typeof key.value}:${String(key.value)}` : `node:${JSON.stringify((key as { toJSON?: () => unknown } | null)?.toJSON?.() ?? null)}`;
        if (id === 'string:<<') continue; // merge keys may repeat
        if (seen.has(id)) {
          found = key?.range?.[0] ?? map.range?.[0] ?? 0;
          return visit.BREAK;
        }
        seen.add(id);
      }
      return undefined;
    },
  });
  return found;
}

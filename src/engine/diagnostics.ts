// Diagnostics for pipeline.yaml: turn JSON Schema errors into one sentence each, and find where a
// path into the document stands in the file (file:line:col) for any error message.
import type { Document, Node } from 'yaml';
import type { ErrorObject } from 'ajv';
import { UserError } from '../sdk/errors.js';
import { yaml } from './lazy-modules.js';

export function schemaError(errors: ErrorObject[], locate: (p: readonly (string | number)[], key?: boolean) => string): UserError {
  // Prefer the most specific error: deepest path, and not a combinator's summary.
  const ranked = [...errors].sort((a, b) => score(b) - score(a));
  const error = ranked[0];
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
      return new UserError('SCHEMA', `${subject} must be ${article((error.params as { type: string }).type)}`, locate(path));
    case 'propertyNames':
    case 'pattern':
      return new UserError('SCHEMA', `${subject || 'a name'} ${error.message}`, locate(path, true));
    default:
      return new UserError('SCHEMA', `${subject || 'the pipeline'} ${error.message}`, locate(path));
  }
}

function score(error: ErrorObject): number {
  const depth = error.instancePath.split('/').length * 10;
  const penalty = error.keyword === 'oneOf' || error.keyword === 'anyOf' || error.keyword === 'if' ? -5 : 0;
  // A misspelt key (ouputs) explains the missing required one (outputs) beside it: it ranks first.
  const bonus = error.keyword === 'additionalProperties' ? 4 : error.keyword === 'required' ? 3 : 0;
  return depth + penalty + bonus;
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

/** Offset of a node (or, with key=true, of its key) for a path into the document. */
export function offsetOf(doc: Document, path: readonly (string | number)[], key: boolean): number {
  const { isMap, isPair, isScalar } = yaml();
  let node: unknown = doc.contents;
  let best = (doc.contents as Node | null)?.range?.[0] ?? 0;
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
          if (last && key && keyNode?.range) return keyNode.range[0];
          best = valueNode?.range?.[0] ?? keyNode?.range?.[0] ?? best;
          if (last && !valueNode && keyNode?.range) best = keyNode.range[0];
          next = valueNode;
          break;
        }
      } else if (typeof segment === 'number' && items.indexOf(item) === segment) {
        best = (item as Node).range?.[0] ?? best;
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

// Secret values scrubbed from text: what a kernel reports (logs, warnings, metrics, errors) and what
// it writes from untrusted upstream data (a feed that echoes the subscription puts the key in a line).

export const REDACTED = '***';

/**
 * A function replacing every occurrence of the given values with `***`: as written, and as they
 * appear inside a JSON string (a key holding `"` or `\` is escaped there), so raw JSON lines are
 * scrubbed too. Values are read when called, so secrets added later are covered.
 */
export function redactorFor(values: Iterable<string>): (text: string) => string {
  return (text) => {
    let out = text;
    for (const value of values) {
      if (value.length === 0) continue;
      for (const form of new Set([value, JSON.stringify(value).slice(1, -1)])) {
        // Repeat: a replacement next to a secret's own '*'s could spell it again (each pass shortens the text).
        while (out.includes(form) && form.length > REDACTED.length) out = out.split(form).join(REDACTED);
        if (form.length <= REDACTED.length) out = out.split(form).join(REDACTED);
      }
    }
    return out;
  };
}

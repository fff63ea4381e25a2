// Secret redaction (issue 10 item 16): no secret survives in text, written as-is or inside JSON.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { redactorFor } from '../../src/sdk/redact.js';

describe('redactorFor', () => {
  it('leaves neither the secret nor its JSON-escaped form in any text around it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4, unit: 'grapheme' }), fc.string(), fc.string(), (secret, before, after) => {
        const redact = redactorFor([secret]);
        const line = JSON.stringify({ before, APIKey: secret, after });
        const out = redact(line);
        expect(out).not.toContain(JSON.stringify(secret).slice(1, -1));
        expect(redact(`${before}${secret}${after}`)).not.toContain(secret);
      }),
    );
  });

  it('covers secrets added after it was made, and leaves other text alone', () => {
    const secrets = new Set<string>();
    const redact = redactorFor(secrets);
    expect(redact('key=abc"123')).toBe('key=abc"123');
    secrets.add('abc"123');
    expect(redact('key=abc"123')).toBe('key=***');
    expect(redact(JSON.stringify({ key: 'abc"123' }))).toBe('{"key":"***"}');
    // A secret made of the placeholder's own stars cannot be spelt again by the replacement.
    expect(redactorFor(['a***'])('aa***')).not.toContain('a***');
  });
});

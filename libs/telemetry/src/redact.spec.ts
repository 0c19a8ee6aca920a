import { randomBytes } from 'node:crypto';
import { JsonLogger } from './json-logger';
import { forgetSecretValues, redact, REDACTED, redactString, rememberSecretValue } from './redact';

describe('remembered secret values', () => {
  const canary = 'canary-7f3a9 with spaces&symbols/+=';
  afterEach(() => forgetSecretValues());

  it('are masked in any string, as they are and in their base64, base64url and URL-encoded forms', () => {
    rememberSecretValue(canary);
    const base64 = Buffer.from(canary).toString('base64');
    const samples = [
      `proxy said: ${canary}!`,
      `header x-auth: ${base64}`,
      `data:text/plain;base64,${base64.replace(/=+$/, '')}`,
      `token=${Buffer.from(canary).toString('base64url')}`,
      `https://example.test/cb?password=${encodeURIComponent(canary)}`,
      `form: pw=${encodeURIComponent(canary).replace(/%20/g, '+')}&x=1`,
    ];
    for (const sample of samples) {
      const masked = redactString(sample);
      expect(masked).toContain(REDACTED);
      expect(masked).not.toContain('canary-7f3a9');
      expect(masked).not.toContain(base64.slice(0, 12));
    }
  });

  it('are masked inside objects and errors, and in every log line', () => {
    rememberSecretValue(canary);
    const error = new Error(`407 from proxy for ${canary}`);
    expect(JSON.stringify(redact({ nested: { note: canary }, error }))).not.toContain('canary-7f3a9');
    const lines: string[] = [];
    const logger = new JsonLogger({ service: 'test', level: 'debug', write: (line) => lines.push(line) });
    logger.error(`navigation failed: ${canary}`, error.stack);
    logger.log({ message: 'object form', value: canary });
    expect(lines.join('\n')).not.toContain('canary-7f3a9');
    expect(lines.join('\n')).toContain(REDACTED);
  });

  it('leave text alone before they are remembered, and values too short to mask without masking words', () => {
    expect(redactString(`plain ${canary}`)).toBe(`plain ${canary}`);
    rememberSecretValue('abc');
    expect(redactString('abc abcdef')).toBe('abc abcdef');
  });

  it('are masked whole when one value contains another', () => {
    rememberSecretValue('secret-part');
    rememberSecretValue('secret-part-and-more');
    expect(redactString('x secret-part-and-more y')).toBe(`x ${REDACTED} y`);
  });

  it('masks a 64 KiB value whole, in every form, and keeps working after it (no pattern too large to compile)', () => {
    // A PEM-like value with some non-ASCII, random like a real key (a periodic one would not split into distinct pieces).
    const body = randomBytes(24 * 1024).toString('base64');
    const big = `-----BEGIN KEY-----é${body}é-----END KEY-----`;
    rememberSecretValue(big);
    rememberSecretValue(canary);
    for (const form of [big, Buffer.from(big).toString('base64'), encodeURIComponent(big)]) {
      const masked = redactString(`before ${form} after`);
      expect(masked.startsWith('before ')).toBe(true);
      expect(masked.endsWith(' after')).toBe(true);
      for (let at = 0; at + 32 <= form.length; at += 997) expect(masked).not.toContain(form.slice(at, at + 32));
      expect(masked.length).toBeLessThan(2_000);
    }
    expect(redactString(`x ${canary} y`)).toBe(`x ${REDACTED} y`);
  });

  it('keeps the newest values when a long-lived process has met very many', () => {
    const first = 'the-first-secret-value';
    rememberSecretValue(first);
    for (let i = 0; i < 2_000; i++) rememberSecretValue(`later-secret-${i}-${'x'.repeat(8)}`);
    expect(redactString('later-secret-1999-xxxxxxxx')).toBe(REDACTED);
    expect(redactString(first)).toBe(first);
  });
});

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
});

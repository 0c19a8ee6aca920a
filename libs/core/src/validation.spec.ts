import { BctrlError } from './errors';
import {
  assertValid,
  checkMetadata,
  checkName,
  METADATA_KEY_MAX_LENGTH,
  METADATA_MAX_KEYS,
  METADATA_VALUE_MAX_LENGTH,
  NAME_MAX_LENGTH,
  parseTimestamp,
} from './validation';

describe('checkName', () => {
  it('accepts an ordinary name, unicode included, up to the maximum length', () => {
    expect(checkName('my space')).toEqual([]);
    expect(checkName('Ünïcødé 名前')).toEqual([]);
    expect(checkName('x'.repeat(NAME_MAX_LENGTH))).toEqual([]);
  });

  it('rejects an empty or whitespace-only name', () => {
    expect(checkName('')).toEqual([{ field: 'name', issue: 'must not be empty' }]);
    expect(checkName('   \t ')).toEqual([{ field: 'name', issue: 'must not be empty' }]);
  });

  it('rejects a name one character too long', () => {
    expect(checkName('x'.repeat(NAME_MAX_LENGTH + 1))).toEqual([
      { field: 'name', issue: expect.stringContaining(`${NAME_MAX_LENGTH}`) },
    ]);
  });

  it('rejects control characters (C0, DEL, C1, NUL)', () => {
    for (const control of ['\u0000', '\n', '\u001b', '\u007f', '\u0085', '\u009f']) {
      expect(checkName(`a${control}b`)).toEqual([{ field: 'name', issue: 'must not contain control characters' }]);
    }
  });

  it('rejects values that are not strings', () => {
    expect(checkName(12)).toEqual([{ field: 'name', issue: 'must be a string' }]);
    expect(checkName(undefined)).toEqual([{ field: 'name', issue: 'must be a string' }]);
  });

  it('names the field it is given', () => {
    expect(checkName('', 'displayName')).toEqual([{ field: 'displayName', issue: 'must not be empty' }]);
  });
});

describe('checkMetadata', () => {
  it('accepts a flat string map at the limits', () => {
    const full = Object.fromEntries(Array.from({ length: METADATA_MAX_KEYS }, (_, n) => [`k${n}`, 'v']));
    expect(checkMetadata(full)).toEqual([]);
    expect(checkMetadata({ ['k'.repeat(METADATA_KEY_MAX_LENGTH)]: 'v'.repeat(METADATA_VALUE_MAX_LENGTH) })).toEqual([]);
    expect(checkMetadata({})).toEqual([]);
  });

  it('rejects a value that is not an object, and an array', () => {
    for (const value of [null, undefined, 'x', 5, true, [], ['a']]) {
      expect(checkMetadata(value)).toEqual([{ field: 'metadata', issue: 'must be an object of string values' }]);
    }
  });

  it('rejects more keys than allowed, on the metadata field', () => {
    const tooMany = Object.fromEntries(Array.from({ length: METADATA_MAX_KEYS + 1 }, (_, n) => [`k${n}`, 'v']));
    expect(checkMetadata(tooMany)).toEqual([
      { field: 'metadata', issue: expect.stringContaining(`${METADATA_MAX_KEYS}`) },
    ]);
  });

  it('rejects a key that is too long, empty or has control characters, on that key', () => {
    const long = 'k'.repeat(METADATA_KEY_MAX_LENGTH + 1);
    expect(checkMetadata({ [long]: 'v' })).toEqual([{ field: `metadata.${long}`, issue: expect.any(String) }]);
    expect(checkMetadata({ '': 'v' })).toEqual([{ field: 'metadata.', issue: expect.any(String) }]);
    expect(checkMetadata({ 'a\nb': 'v' })).toEqual([{ field: 'metadata.a\nb', issue: expect.any(String) }]);
  });

  it('rejects a value that is too long, on that key', () => {
    expect(checkMetadata({ owner: 'v'.repeat(METADATA_VALUE_MAX_LENGTH + 1) })).toEqual([
      { field: 'metadata.owner', issue: expect.stringContaining(`${METADATA_VALUE_MAX_LENGTH}`) },
    ]);
  });

  it('rejects values that are not strings, on each offending key', () => {
    expect(checkMetadata({ ok: 'yes', n: 1, o: { nested: 'x' }, z: null })).toEqual([
      { field: 'metadata.n', issue: 'must be a string' },
      { field: 'metadata.o', issue: 'must be a string' },
      { field: 'metadata.z', issue: 'must be a string' },
    ]);
  });

  it('prefixes key fields with the field it is given', () => {
    expect(checkMetadata({ n: 1 }, 'labels')).toEqual([{ field: 'labels.n', issue: 'must be a string' }]);
  });
});

describe('assertValid', () => {
  it('does nothing for no details and throws validation_failed carrying them otherwise', () => {
    expect(() => assertValid([])).not.toThrow();
    const details = [{ field: 'name', issue: 'must not be empty' }];
    expect(() => assertValid(details)).toThrow(BctrlError);
    try {
      assertValid(details);
    } catch (error) {
      expect((error as BctrlError).code).toBe('validation_failed');
      expect((error as BctrlError).details).toEqual(details);
    }
  });
});

describe('parseTimestamp', () => {
  it('parses RFC 3339 timestamps with Z or an offset, with or without fractions', () => {
    expect(parseTimestamp('2030-01-02T03:04:05Z', 'expiresAt').toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(parseTimestamp('2030-01-02T03:04:05.678Z', 'expiresAt').toISOString()).toBe('2030-01-02T03:04:05.678Z');
    expect(parseTimestamp('2030-01-02T05:04:05+02:00', 'expiresAt').toISOString()).toBe('2030-01-02T03:04:05.000Z');
  });

  it.each([
    ['no zone', '2030-01-02T03:04:05'],
    ['a date only', '2030-01-02'],
    ['epoch millis', '1893553445000'],
    ['free text', 'next tuesday'],
    ['an impossible date', '2030-13-45T03:04:05Z'],
    ['a space instead of T', '2030-01-02 03:04:05Z'],
  ])('rejects %s with validation_failed on the given field', (_label, value) => {
    let thrown: unknown;
    try {
      parseTimestamp(value, 'expiresAt');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(BctrlError);
    expect((thrown as BctrlError).code).toBe('validation_failed');
    expect((thrown as BctrlError).details).toEqual([{ field: 'expiresAt', issue: expect.any(String) }]);
  });
});

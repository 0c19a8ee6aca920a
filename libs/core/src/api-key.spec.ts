import { createHash } from 'node:crypto';
import { API_KEY_PREFIX, apiKeyDisplayPrefix, digestsEqual, generateApiKey, hashApiKey } from './api-key';

describe('generateApiKey', () => {
  it('is bctrl_ followed by 40 base62 characters', () => {
    for (let n = 0; n < 50; n++) expect(generateApiKey()).toMatch(/^bctrl_[0-9A-Za-z]{40}$/);
    expect(API_KEY_PREFIX).toBe('bctrl_');
  });

  it('does not repeat', () => {
    const keys = new Set(Array.from({ length: 5_000 }, generateApiKey));
    expect(keys.size).toBe(5_000);
  });
});

describe('hashApiKey', () => {
  it('is the lowercase sha256 hex digest of the whole key', () => {
    const key = generateApiKey();
    const hash = hashApiKey(key);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).toBe(createHash('sha256').update(key).digest('hex'));
    // A known vector, so the test does not just repeat the implementation.
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('differs for keys that differ in one character', () => {
    expect(hashApiKey('bctrl_a')).not.toBe(hashApiKey('bctrl_b'));
  });
});

describe('apiKeyDisplayPrefix', () => {
  it('shows the first 12 characters only', () => {
    const key = generateApiKey();
    expect(apiKeyDisplayPrefix(key)).toBe(key.slice(0, 12));
    expect(apiKeyDisplayPrefix(key)).toHaveLength(12);
  });
});

describe('digestsEqual', () => {
  const digest = hashApiKey('bctrl_one');

  it('is true for equal digests', () => {
    expect(digestsEqual(digest, hashApiKey('bctrl_one'))).toBe(true);
  });

  it('is false for digests that differ in the last character', () => {
    const other = digest.slice(0, -1) + (digest.endsWith('0') ? '1' : '0');
    expect(digestsEqual(digest, other)).toBe(false);
    expect(digestsEqual(digest, hashApiKey('bctrl_two'))).toBe(false);
  });

  it('is false, without throwing, when lengths differ', () => {
    expect(() => digestsEqual(digest, digest.slice(0, 32))).not.toThrow();
    expect(digestsEqual(digest, digest.slice(0, 32))).toBe(false);
    expect(digestsEqual(digest.slice(0, 32), digest)).toBe(false);
  });

  it('is false for empty digests, even two of them', () => {
    expect(digestsEqual('', '')).toBe(false);
    expect(digestsEqual(digest, '')).toBe(false);
    expect(digestsEqual('', digest)).toBe(false);
  });
});

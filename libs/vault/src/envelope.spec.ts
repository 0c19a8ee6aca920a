import { randomBytes } from 'node:crypto';
import { BctrlError } from '@bctrl/core';
import { open, rewrap, seal, VaultKeyMissingError } from './envelope';
import { parseVaultKeys } from './keyring';

const key = () => randomBytes(32).toString('base64');

describe('envelope encryption', () => {
  const [k1, k2] = [key(), key()];
  const old = parseVaultKeys(`k1:${k1}`);
  const rotated = parseVaultKeys(`k2:${k2},k1:${k1}`);

  it('opens what it sealed, and the sealed form holds no trace of the value', () => {
    const sealed = seal(old, 'hunter2-canary-value', 'sec_1:1');
    expect(sealed.kekId).toBe('k1');
    expect(open(old, sealed, 'sec_1:1')).toBe('hunter2-canary-value');
    const stored = Buffer.concat([sealed.wrappedKey, sealed.ciphertext]);
    expect(stored.includes(Buffer.from('hunter2'))).toBe(false);
  });

  it('gives every version its own data key: the same value seals differently each time', () => {
    const a = seal(old, 'same', 'sec_1:1');
    const b = seal(old, 'same', 'sec_1:1');
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('refuses to open a sealed value under another secret or version', () => {
    const sealed = seal(old, 'value', 'sec_1:1');
    expect(() => open(old, sealed, 'sec_1:2')).toThrow(BctrlError);
    expect(() => open(old, sealed, 'sec_2:1')).toThrow('failed its integrity check');
  });

  it('refuses a tampered ciphertext without naming the value', () => {
    const sealed = seal(old, 'value', 'sec_1:1');
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[ciphertext.length - 1] ^= 1;
    expect(() => open(old, { ...sealed, ciphertext }, 'sec_1:1')).toThrow('failed its integrity check');
  });

  it('re-wraps the data key under the current KEK, leaving the value box as it was', () => {
    const sealed = seal(old, 'value', 'sec_1:1');
    const moved = rewrap(rotated, sealed, 'sec_1:1');
    expect(moved.kekId).toBe('k2');
    expect(moved.ciphertext.equals(sealed.ciphertext)).toBe(true);
    // Once re-wrapped, the old KEK can leave the keyring.
    expect(open(parseVaultKeys(`k2:${k2}`), moved, 'sec_1:1')).toBe('value');
    expect(rewrap(rotated, moved, 'sec_1:1')).toBe(moved);
  });

  it('names the missing KEK when a ciphertext was sealed under a key the process does not hold', () => {
    const sealed = seal(rotated, 'value', 'sec_1:1');
    let error: unknown;
    try {
      open(old, sealed, 'sec_1:1');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(VaultKeyMissingError);
    expect((error as VaultKeyMissingError).message).toContain('k2');
    expect((error as VaultKeyMissingError).kekId).toBe('k2');
  });
});

import { randomBytes } from 'node:crypto';
import { BctrlError } from '@bctrl/core';
import { parseVaultKeys } from './keyring';

const key = () => randomBytes(32).toString('base64');

function problems(text: string) {
  try {
    parseVaultKeys(text);
  } catch (error) {
    return (error as BctrlError).details;
  }
  throw new Error('parsed');
}

describe('BCTRL_VAULT_KEYS', () => {
  it('encrypts with the first key and knows every one, separated by commas or whitespace', () => {
    const ring = parseVaultKeys(`new:${key()}, old:${key()}\nolder:${key()}`);
    expect(ring.current.id).toBe('new');
    expect(ring.ids).toEqual(['new', 'old', 'older']);
    expect(ring.get('older')).toHaveLength(32);
    expect(ring.get('absent')).toBeUndefined();
  });

  it('lists every bad entry by position, never echoing key material', () => {
    const short = Buffer.from('too-short').toString('base64');
    const found = problems(`ok:${key()},bad!id:${key()},short:${short},ok:${key()},nocolon`);
    expect(found.map((each) => each.field)).toEqual([
      'BCTRL_VAULT_KEYS[1]',
      'BCTRL_VAULT_KEYS[2]',
      'BCTRL_VAULT_KEYS[3]',
      'BCTRL_VAULT_KEYS[4]',
    ]);
    expect(JSON.stringify(found)).not.toContain(short);
  });

  it('refuses an empty setting', () => {
    expect(problems(' ')).toEqual([{ field: 'BCTRL_VAULT_KEYS', issue: 'holds no key' }]);
  });
});

import { randomBytes } from 'node:crypto';
import { BctrlError, type ErrorDetail } from '@bctrl/core';

/** AES-256: a key-encryption key is exactly this many bytes. */
export const KEK_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The key-encryption keys a process holds: the first encrypts, every one decrypts. */
export interface Keyring {
  readonly current: { readonly id: string; readonly key: Buffer };
  get(id: string): Buffer | undefined;
  readonly ids: readonly string[];
}

/**
 * Reads BCTRL_VAULT_KEYS: `id:base64` entries separated by commas or whitespace, each a 32-byte key. Every bad
 * entry is named in one error, by position and id, never by its key material.
 */
export function parseVaultKeys(text: string): Keyring {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  const problems: ErrorDetail[] = [];
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, index) => {
    const field = `BCTRL_VAULT_KEYS[${index}]`;
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!KEY_ID.test(id)) {
      problems.push({ field, issue: 'must be id:base64 with an id of letters, digits, _ or - (at most 64)' });
      return;
    }
    const key = Buffer.from(entry.slice(colon + 1), 'base64');
    if (key.length !== KEK_BYTES) {
      problems.push({ field, issue: `key ${id} must be ${KEK_BYTES} bytes of base64, not ${key.length}` });
      return;
    }
    if (keys.has(id)) problems.push({ field, issue: `key id ${id} appears twice` });
    keys.set(id, key);
  });
  if (entries.length === 0) problems.push({ field: 'BCTRL_VAULT_KEYS', issue: 'holds no key' });
  if (problems.length > 0) throw new BctrlError('validation_failed', 'BCTRL_VAULT_KEYS is not valid.', problems);
  const [currentId, currentKey] = [...keys.entries()][0] as [string, Buffer];
  return {
    current: { id: currentId, key: currentKey },
    get: (id) => keys.get(id),
    ids: [...keys.keys()],
  };
}

/** A new key-encryption key in BCTRL_VAULT_KEYS' form, `id:base64`. */
export function newVaultKey(id: string): string {
  if (!KEY_ID.test(id)) throw new BctrlError('validation_failed', `Vault key id ${id} is not valid.`);
  return `${id}:${randomBytes(KEK_BYTES).toString('base64')}`;
}

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BctrlError } from '@bctrl/core';
import type { Keyring } from './keyring';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;

/**
 * One secret version at rest: its value under a data key of its own, and that data key wrapped by the key-encryption
 * key `kekId`. Each box is iv ‖ tag ‖ ciphertext. Rotating the KEK re-wraps `wrappedKey` only.
 */
export interface SealedValue {
  kekId: string;
  wrappedKey: Buffer;
  ciphertext: Buffer;
}

/** A ciphertext whose key-encryption key this process does not hold: named, so an operator knows which to restore. */
export class VaultKeyMissingError extends BctrlError {
  constructor(readonly kekId: string) {
    super('unavailable', `The vault key ${kekId} that encrypted this secret is not in BCTRL_VAULT_KEYS.`);
  }
}

/**
 * Encrypts a value under a fresh data key, wrapped by the keyring's current KEK. `context` (the secret's id and
 * version) is authenticated with both boxes, so a sealed value moved to another secret or version fails to open.
 */
export function seal(keyring: Keyring, value: string, context: string): SealedValue {
  const dataKey = randomBytes(DATA_KEY_BYTES);
  try {
    return {
      kekId: keyring.current.id,
      wrappedKey: box(keyring.current.key, dataKey, wrapContext(keyring.current.id, context)),
      ciphertext: box(dataKey, Buffer.from(value, 'utf8'), Buffer.from(context, 'utf8')),
    };
  } finally {
    dataKey.fill(0);
  }
}

/** The value of a sealed secret. Throws VaultKeyMissingError for an unknown KEK, `internal` for tampered boxes. */
export function open(keyring: Keyring, sealed: SealedValue, context: string): string {
  const dataKey = unwrap(keyring, sealed, context);
  try {
    return unbox(dataKey, sealed.ciphertext, Buffer.from(context, 'utf8')).toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

/** The same value with its data key wrapped by the current KEK (the value's own box is untouched). */
export function rewrap(keyring: Keyring, sealed: SealedValue, context: string): SealedValue {
  if (sealed.kekId === keyring.current.id) return sealed;
  const dataKey = unwrap(keyring, sealed, context);
  try {
    return {
      kekId: keyring.current.id,
      wrappedKey: box(keyring.current.key, dataKey, wrapContext(keyring.current.id, context)),
      ciphertext: sealed.ciphertext,
    };
  } finally {
    dataKey.fill(0);
  }
}

function unwrap(keyring: Keyring, sealed: SealedValue, context: string): Buffer {
  const kek = keyring.get(sealed.kekId);
  if (!kek) throw new VaultKeyMissingError(sealed.kekId);
  return unbox(kek, sealed.wrappedKey, wrapContext(sealed.kekId, context));
}

function wrapContext(kekId: string, context: string): Buffer {
  return Buffer.from(`${kekId}\u0000${context}`, 'utf8');
}

function box(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv);
  cipher.setAAD(aad);
  const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), encrypted]);
}

function unbox(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new BctrlError('internal', 'A sealed secret is truncated.');
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    // GCM's tag check: the box was altered, or opened with the wrong key or context. Never the value in the message.
    throw new BctrlError('internal', 'A sealed secret failed its integrity check.');
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase62 } from './ids';

export const API_KEY_PREFIX = 'bctrl_';
/** ~238 bits of randomness: a single fast hash is enough, no key can be guessed or brute-forced from it. */
const API_KEY_SECRET_LENGTH = 40;
const DISPLAY_PREFIX_LENGTH = 12;

export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBase62(API_KEY_SECRET_LENGTH)}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, DISPLAY_PREFIX_LENGTH);
}

/** Compares two hex digests in constant time, so a near-miss takes as long as a far miss. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

import { createHash, randomBytes } from 'node:crypto';

/** Every public ID is `<prefix>_<24 base62 chars>`; the prefix tells a reader what it names. */
export const ID_PREFIX = {
  account: 'acc',
  space: 'spc',
  runtime: 'rt',
  connection: 'conn',
  invocation: 'inv',
  run: 'run',
  artifact: 'art',
  tool: 'tool',
  toolset: 'tset',
  toolCall: 'tc',
  profile: 'prof',
  extension: 'ext',
  proxy: 'prx',
  aiConnection: 'aic',
  secret: 'sec',
  subaccount: 'sub',
  budget: 'bud',
  apiKey: 'key',
  /** The lease behind a live-view or recording-view URL (never shown: tenants get the URL). */
  viewLease: 'view',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ID_BODY_LENGTH = 24;

/** Random base62 text; rejection sampling keeps every character equally likely. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export function newId(kind: IdKind): string {
  return `${ID_PREFIX[kind]}_${randomBase62(ID_BODY_LENGTH)}`;
}

/**
 * The same id for the same `seed`, every time: for things whose creation may be retried by a caller that cannot
 * know whether its first try landed (an artifact of one download of one runtime, say). Base62 from a SHA-256 of
 * the seed, so ids made this way look and validate like any other.
 */
export function idFor(kind: IdKind, seed: string): string {
  const digest = createHash('sha256').update(`${kind}:${seed}`).digest();
  let body = '';
  for (let i = 0; body.length < ID_BODY_LENGTH; i++) body += ALPHABET[(digest[i % digest.length] as number) % 62];
  return `${ID_PREFIX[kind]}_${body}`;
}

const ID_BODY = new RegExp(`^[0-9A-Za-z]{${ID_BODY_LENGTH}}$`);

export function isId(kind: IdKind, value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const prefix = `${ID_PREFIX[kind]}_`;
  return value.startsWith(prefix) && ID_BODY.test(value.slice(prefix.length));
}

export const REDACTED = '[REDACTED]';

// Matched against the key split into words, judging by its last word, so `accessToken`, `x-api-key` and
// `dbPassword` are hidden while `tokenCount` and `maxTokens` (LLM usage we want in logs) are not.
const SECRET_LAST_WORDS = new Set([
  'authorization',
  'cookie',
  'cookies',
  'credential',
  'credentials',
  'passphrase',
  'passwd',
  'password',
  'pwd',
  'secret',
  'token',
]);
const SECRET_KEY_SUFFIXES = ['apikey', 'accesskey', 'privatekey', 'secretkey', 'encryptionkey', 'signingkey'];

export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  if (words.length === 0) return false;
  if (SECRET_LAST_WORDS.has(words[words.length - 1])) return true;
  const joined = words.join('');
  return SECRET_KEY_SUFFIXES.some((suffix) => joined.endsWith(suffix));
}

const STRING_SECRETS: ReadonlyArray<[RegExp, string]> = [
  // BCTRL API keys are `bctrl_` plus a long random part; ids like `bctrl_sp_…` stay below the length.
  [/bctrl_[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  // Passwords in URLs such as postgres://user:pass@host.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, `$1${REDACTED}@`],
];

/**
 * Vault values this process has decrypted or been given: masked wherever they appear in text, whatever produced it.
 * Shorter than this and a value would mask ordinary words; vault values are far longer in practice.
 */
export const MIN_REMEMBERED_SECRET_LENGTH = 4;
/** A form longer than this is remembered as at most MAX_CHUNKS pieces: each masked, the whole is masked too. */
const MAX_FORM_LENGTH = 256;
const MAX_CHUNKS = 16;
/** The newest forms kept: the cost of masking grows with their number, and a long-lived process meets many. */
const MAX_REMEMBERED_FORMS = 5_000;
const rememberedForms = new Set<string>();
/** Longest first, so that a value is masked whole rather than around a shorter form inside it. */
let formsByLength: string[] = [];

function piecesOf(form: string): string[] {
  if (form.length <= MAX_FORM_LENGTH) return [form];
  const size = Math.max(64, Math.ceil(form.length / MAX_CHUNKS));
  const pieces: string[] = [];
  for (let at = 0; at < form.length; at += size) pieces.push(form.slice(at, at + size));
  return pieces;
}

/**
 * Masks `value` from now on in every string the redactor sees (log lines, error messages, events, records), also in
 * the encoded forms it travels in: base64 (as in a Basic auth header or a data URL), base64url and URL-encoding.
 * Plain text search, not a regular expression: a 64 KiB value must not make one too large to compile.
 */
export function rememberSecretValue(value: string): void {
  if (value.length < MIN_REMEMBERED_SECRET_LENGTH) return;
  const base64 = Buffer.from(value, 'utf8').toString('base64');
  const forms = [
    value,
    base64,
    // Inside a longer base64 text the padding is not there.
    base64.replace(/=+$/, ''),
    Buffer.from(value, 'utf8').toString('base64url'),
    encodeURIComponent(value),
    // application/x-www-form-urlencoded writes spaces as +.
    encodeURIComponent(value).replace(/%20/g, '+'),
  ].flatMap(piecesOf);
  for (const form of forms) {
    if (form.length < MIN_REMEMBERED_SECRET_LENGTH) continue;
    // Re-inserted at the end: the Set's order is the eviction order, oldest first.
    rememberedForms.delete(form);
    rememberedForms.add(form);
  }
  for (const oldest of rememberedForms) {
    if (rememberedForms.size <= MAX_REMEMBERED_FORMS) break;
    rememberedForms.delete(oldest);
  }
  formsByLength = [...rememberedForms].sort((a, b) => b.length - a.length);
}

/** Forgets every remembered value (tests). */
export function forgetSecretValues(): void {
  rememberedForms.clear();
  formsByLength = [];
}

export function redactString(value: string): string {
  let redacted = value;
  for (const form of formsByLength) {
    if (redacted.includes(form)) redacted = redacted.split(form).join(REDACTED);
  }
  for (const [pattern, replacement] of STRING_SECRETS) redacted = redacted.replace(pattern, replacement);
  return redacted;
}

const MAX_DEPTH = 8;

/** A JSON-safe copy with secret keys and secret-looking strings hidden; tolerates cycles, errors and bigints. */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  try {
    if (value instanceof Error) return redactError(value, depth, seen);
    if (value instanceof Date) return value.toISOString();
    if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
    if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
    if (value instanceof Map) return redact(Object.fromEntries(value), depth, seen);
    if (value instanceof Set) return redact([...value], depth, seen);
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = isSecretKey(key) && item !== undefined && item !== null ? REDACTED : redact(item, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function redactError(error: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const fields = redact({ ...error }, depth, seen) as Record<string, unknown>;
  return {
    name: error.name,
    message: redactString(error.message),
    ...(error.stack ? { stack: redactString(error.stack) } : {}),
    ...fields,
  };
}

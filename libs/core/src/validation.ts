import { BctrlError, ErrorDetail } from './errors';

/**
 * Rules shared by the gateway (which answers 400 before anything reaches a service) and by the services'
 * handlers (which must not trust a payload just because it came over the bus).
 */
export const NAME_MAX_LENGTH = 200;
export const METADATA_MAX_KEYS = 50;
export const METADATA_KEY_MAX_LENGTH = 40;
export const METADATA_VALUE_MAX_LENGTH = 500;

// C0/C1 controls and NUL make names unprintable in logs and UIs.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export function checkName(value: unknown, field = 'name'): ErrorDetail[] {
  if (typeof value !== 'string') return [{ field, issue: 'must be a string' }];
  if (value.trim().length === 0) return [{ field, issue: 'must not be empty' }];
  if (value.length > NAME_MAX_LENGTH) return [{ field, issue: `must be at most ${NAME_MAX_LENGTH} characters` }];
  if (CONTROL_CHARS.test(value)) return [{ field, issue: 'must not contain control characters' }];
  return [];
}

/** Metadata is a flat string → string map, as in Stripe: at most 50 keys of ≤ 40 chars, values ≤ 500 chars. */
export function checkMetadata(value: unknown, field = 'metadata'): ErrorDetail[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ field, issue: 'must be an object of string values' }];
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const details: ErrorDetail[] = [];
  if (entries.length > METADATA_MAX_KEYS) details.push({ field, issue: `must have at most ${METADATA_MAX_KEYS} keys` });
  for (const [key, entry] of entries) {
    if (key.length === 0 || key.length > METADATA_KEY_MAX_LENGTH || CONTROL_CHARS.test(key)) {
      details.push({
        field: `${field}.${key}`,
        issue: `keys must be 1 to ${METADATA_KEY_MAX_LENGTH} printable characters`,
      });
    } else if (typeof entry !== 'string') {
      details.push({ field: `${field}.${key}`, issue: 'must be a string' });
    } else if (entry.length > METADATA_VALUE_MAX_LENGTH) {
      details.push({ field: `${field}.${key}`, issue: `must be at most ${METADATA_VALUE_MAX_LENGTH} characters` });
    }
  }
  return details;
}

export function assertValid(details: ErrorDetail[]): void {
  if (details.length > 0) throw BctrlError.validation(details);
}

/** RFC 3339 with an explicit zone, as API.md's timestamps are. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(value: string, field: string): Date {
  const date = new Date(value);
  if (!RFC3339.test(value) || Number.isNaN(date.getTime())) {
    throw BctrlError.validation([{ field, issue: 'must be an RFC 3339 timestamp' }]);
  }
  return date;
}

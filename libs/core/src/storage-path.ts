import { BctrlError, type ErrorDetail } from './errors';

/** Bytes, not characters: what a filesystem and an S3 key limit. A segment stays under NAME_MAX (255) with room for
 * the filesystem store's suffix; 1024 is S3's own key limit less nothing, since paths sit under a short prefix. */
export const STORAGE_PATH_MAX_BYTES = 1024;
export const STORAGE_SEGMENT_MAX_BYTES = 240;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
// A lone UTF-16 surrogate has no UTF-8 form: it would reach the store as U+FFFD, a different name.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A space storage path: relative, `/`-separated, no `.`/`..` or empty segments, no NUL or control characters, no
 * backslashes (a separator elsewhere), well-formed Unicode, within the byte limits. One rule for the gateway (400
 * before a byte is read) and the storage service (which trusts no caller). `prefix` allows the empty string and a
 * trailing `/`, as list prefixes do.
 */
export function checkStoragePath(value: unknown, field = 'path', options: { prefix?: boolean } = {}): ErrorDetail[] {
  if (typeof value !== 'string') return [{ field, issue: 'must be a string' }];
  if (value === '') return options.prefix ? [] : [{ field, issue: 'must not be empty' }];
  const issue = (text: string) => [{ field, issue: text }];
  if (LONE_SURROGATE.test(value)) return issue('must be well-formed Unicode');
  if (Buffer.byteLength(value) > STORAGE_PATH_MAX_BYTES) {
    return issue(`must be at most ${STORAGE_PATH_MAX_BYTES} bytes (UTF-8)`);
  }
  if (value.includes('\0')) return issue('must not contain NUL');
  if (CONTROL_CHARS.test(value)) return issue('must not contain control characters');
  if (value.startsWith('/')) return issue('must be relative (no leading `/`)');
  if (value.includes('\\')) return issue('must use `/` as the separator, not `\\`');
  const segments = value.split('/');
  if (options.prefix && segments[segments.length - 1] === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return issue('must not contain empty segments (`//`, or a trailing `/`)');
    if (segment === '.' || segment === '..') return issue('must not contain `.` or `..` segments');
    if (Buffer.byteLength(segment) > STORAGE_SEGMENT_MAX_BYTES) {
      return issue(`must have segments of at most ${STORAGE_SEGMENT_MAX_BYTES} bytes (UTF-8)`);
    }
  }
  return [];
}

export function requireStoragePath(value: unknown, field = 'path', options: { prefix?: boolean } = {}): string {
  const details = checkStoragePath(value, field, options);
  if (details.length > 0) throw BctrlError.validation(details, 'The storage path is not valid.');
  return value as string;
}

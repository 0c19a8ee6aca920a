import { BctrlError } from '@bctrl/core';
import type { ByteRange } from '../object-store/object-store';

/** A 416 that knows the object's size, for `Content-Range: bytes *\/<size>`. */
export class RangeNotSatisfiable extends BctrlError {
  constructor(readonly objectSize: number) {
    super('range_not_satisfiable', `The requested range is outside the object's ${objectSize} bytes.`, [
      { field: 'Range', issue: `must start before byte ${objectSize}` },
    ]);
  }
}

/**
 * Reads a `Range` header against the object's size (RFC 9110 §14). One `bytes=` range is served; a header that is not
 * one well-formed byte range (several ranges, another unit, garbage) is ignored and the whole object sent, as the RFC
 * allows; a range that starts past the end is a 416.
 */
export function resolveRange(header: string | undefined, size: number): ByteRange | null {
  if (!header) return null;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw new RangeNotSatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  if (match[2] !== '' && Number(match[2]) < start) return null;
  if (start >= size) throw new RangeNotSatisfiable(size);
  return { start, end: match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1) };
}

import { BctrlError } from './errors';

/** Lists are newest first; a cursor names the last row a page returned (its time and id break ties). */
export interface CursorPosition {
  createdAt: Date;
  id: string;
}

export const PAGE_LIMIT_DEFAULT = 20;
export const PAGE_LIMIT_MAX = 100;

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify({ t: position.createdAt.toISOString(), i: position.id })).toString('base64url');
}

/** Anything a client did not get from us (edited, truncated, from another list's shape) is a 400. */
export function decodeCursor(cursor: string): CursorPosition {
  const invalid = BctrlError.validation([{ field: 'cursor', issue: 'is not a cursor this API returned' }]);
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid;
  const { t, i } = parsed as Record<string, unknown>;
  if (typeof t !== 'string' || typeof i !== 'string' || i.length === 0 || i.length > 64) throw invalid;
  const createdAt = new Date(t);
  if (Number.isNaN(createdAt.getTime())) throw invalid;
  return { createdAt, id: i };
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * Repositories fetch `limit + 1` rows; the extra row only says whether another page exists.
 */
export function toPage<T extends { id: string; createdAt: Date }, R>(
  rows: T[],
  limit: number,
  render: (row: T) => R,
): Page<R> {
  const pageRows = rows.slice(0, limit);
  const last = pageRows[pageRows.length - 1];
  return {
    data: pageRows.map(render),
    nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
  };
}

/** A page size as asked (0 or absent: the default), checked here rather than trusting the gateway did. */
export function pageLimit(
  limit: number | undefined,
  bounds: { fallback: number; max: number } = { fallback: PAGE_LIMIT_DEFAULT, max: PAGE_LIMIT_MAX },
): number {
  const value = limit || bounds.fallback;
  if (!Number.isInteger(value) || value < 1 || value > bounds.max) {
    throw BctrlError.validation([{ field: 'limit', issue: `must be an integer from 1 to ${bounds.max}` }]);
  }
  return value;
}

export interface PageInput {
  limit?: number;
  cursor?: string;
}

/**
 * Query arguments (Prisma-shaped) for one page of a newest-first list: rows strictly after the cursor's row in
 * (createdAt desc, id desc) order, plus one extra row to tell whether another page exists. A service checks the
 * limit itself rather than trusting the gateway did.
 */
export function pageQuery(page: PageInput | undefined) {
  const limit = pageLimit(page?.limit);
  const after = page?.cursor ? decodeCursor(page.cursor) : null;
  return {
    limit,
    where: after
      ? {
          OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }],
        }
      : {},
    orderBy: [{ createdAt: 'desc' as const }, { id: 'desc' as const }],
    take: limit + 1,
  };
}

/** A page as the contracts' list responses carry it: `nextCursor` is '' on the last page (proto3 has no null). */
export function toPageMessage<T extends { id: string; createdAt: Date }, R>(
  rows: T[],
  limit: number,
  render: (row: T) => R,
): { data: R[]; nextCursor: string } {
  const page = toPage(rows, limit, render);
  return { data: page.data, nextCursor: page.nextCursor ?? '' };
}

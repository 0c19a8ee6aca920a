import { BctrlError, decodeCursor, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from '@bctrl/core';

export interface PageInput {
  limit?: number;
  cursor?: string;
}

/**
 * Prisma arguments for one page of a newest-first list: rows strictly after the cursor's row in
 * (createdAt desc, id desc) order, plus one extra row to tell whether another page exists.
 */
export function pageQuery(page: PageInput | undefined) {
  const limit = page?.limit ? page.limit : PAGE_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_LIMIT_MAX) {
    throw BctrlError.validation([{ field: 'limit', issue: `must be an integer from 1 to ${PAGE_LIMIT_MAX}` }]);
  }
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

export function iso(date: Date | null | undefined): string {
  return date ? date.toISOString() : '';
}

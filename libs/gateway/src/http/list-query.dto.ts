import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { PAGE_LIMIT_MAX } from '@bctrl/core';

export class ListQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: PAGE_LIMIT_MAX, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(PAGE_LIMIT_MAX)
  limit?: number;

  @ApiPropertyOptional({ description: 'The nextCursor of the previous page.' })
  @IsOptional()
  @IsString()
  // Long enough for cursors that carry a path (space storage lists: up to 1024 bytes, base64url).
  @Matches(/^[A-Za-z0-9_-]{1,2048}$/, { message: 'cursor is not a cursor this API returned' })
  cursor?: string;
}

/** The page a list query asks for, as the services' PageRequest (0 and '': the defaults). */
export function pageOf(query: ListQueryDto) {
  return { limit: query.limit ?? 0, cursor: query.cursor ?? '' };
}

/** A service's page in the public list shape: each item rendered, `nextCursor` null on the last page. */
export function listOf<T, R>(page: { data: T[]; nextCursor: string }, render: (item: T) => R) {
  return { data: page.data.map(render), nextCursor: page.nextCursor === '' ? null : page.nextCursor };
}

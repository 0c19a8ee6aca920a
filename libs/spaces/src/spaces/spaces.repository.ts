import { Inject, Injectable } from '@nestjs/common';
import { KeyPrincipal, PageInput, pageQuery } from '@bctrl/core';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';
import type { Space } from '../generated/prisma/client';
import { spaceScope } from '../tenancy/tenancy';

export type SpaceRow = Space;

@Injectable()
export class SpacesRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  create(row: {
    id: string;
    accountId: string;
    subaccountId: string | null;
    name: string;
    metadata: Record<string, string>;
  }) {
    return this.db.space.create({ data: row });
  }

  async list(principal: KeyPrincipal, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.space.findMany({
      where: { AND: [spaceScope(principal), query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.space.findFirst({ where: { AND: [spaceScope(principal), { id }] } });
  }

  update(id: string, data: { name?: string; metadata?: Record<string, string> }) {
    return this.db.space.update({ where: { id }, data });
  }

  delete(id: string) {
    return this.db.space.delete({ where: { id } });
  }

  countForSubaccount(subaccountId: string) {
    return this.db.space.count({ where: { subaccountId } });
  }

  /** The subset of `ids` that exist in the scope, to check a key's space list before it is stored. */
  async existingIds(scope: { accountId: string; subaccountId: string | null }, ids: string[]) {
    const rows = await this.db.space.findMany({
      where: {
        accountId: scope.accountId,
        ...(scope.subaccountId ? { subaccountId: scope.subaccountId } : {}),
        id: { in: ids },
      },
      select: { id: true },
    });
    return new Set(rows.map((row) => row.id));
  }
}

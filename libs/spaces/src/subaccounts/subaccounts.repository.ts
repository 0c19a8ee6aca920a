import { Inject, Injectable } from '@nestjs/common';
import { KeyPrincipal, PageInput, pageQuery } from '@bctrl/core';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';
import { subaccountScope } from '../tenancy/tenancy';

@Injectable()
export class SubaccountsRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  create(row: { id: string; accountId: string; name: string }) {
    return this.db.subaccount.create({ data: row });
  }

  async list(principal: KeyPrincipal, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.subaccount.findMany({
      where: { AND: [subaccountScope(principal), query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.subaccount.findFirst({ where: { AND: [subaccountScope(principal), { id }] } });
  }

  findInAccount(accountId: string, id: string) {
    return this.db.subaccount.findFirst({ where: { accountId, id } });
  }

  update(id: string, data: { name?: string }) {
    return this.db.subaccount.update({ where: { id }, data });
  }

  /**
   * Deletes only if it owns no spaces, in one transaction so that a space created concurrently is
   * either counted or refused by the foreign key; its keys go with it.
   */
  async deleteIfEmpty(id: string): Promise<'deleted' | 'has_spaces'> {
    return this.db.$transaction(async (tx) => {
      const spaces = await tx.space.count({ where: { subaccountId: id } });
      if (spaces > 0) return 'has_spaces';
      await tx.subaccount.delete({ where: { id } });
      return 'deleted';
    });
  }
}

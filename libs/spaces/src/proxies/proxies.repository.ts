import { Inject, Injectable } from '@nestjs/common';
import { BctrlError, KeyPrincipal, PageInput, pageQuery, spaceResourceScope } from '@bctrl/core';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';
import type { Proxy } from '../generated/prisma/client';

export type ProxyRow = Proxy;

export interface ProxyFields {
  name: string;
  server: string;
  username: string | null;
  passwordSecretId: string | null;
  bypass: string[];
}

@Injectable()
export class ProxiesRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  create(row: ProxyFields & { id: string; accountId: string; subaccountId: string | null; spaceId: string }) {
    return this.uniqueName(row.name, () => this.db.proxy.create({ data: row }));
  }

  async list(principal: KeyPrincipal, spaceId: string, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.proxy.findMany({
      where: { AND: [spaceResourceScope(principal), { spaceId }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.proxy.findFirst({ where: { AND: [spaceResourceScope(principal), { id }] } });
  }

  update(id: string, fields: ProxyFields) {
    return this.uniqueName(fields.name, () => this.db.proxy.update({ where: { id }, data: fields }));
  }

  delete(id: string) {
    return this.db.proxy.delete({ where: { id } });
  }

  private async uniqueName<T>(name: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      const code = (error as { code?: string }).code;
      // The password secret was deleted between the check and this write: the foreign key refuses it.
      if (code === 'P2003') {
        throw BctrlError.validation([{ field: 'passwordSecretId', issue: 'is not a secret of this space' }]);
      }
      if (code !== 'P2002') throw error;
      throw new BctrlError('conflict', `A proxy named "${name}" already exists in this space.`, [
        { field: 'name', issue: 'is taken in this space' },
      ]);
    }
  }
}

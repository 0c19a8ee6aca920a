import { Inject, Injectable } from '@nestjs/common';
import { KeyPrincipal, PageInput, pageQuery, spaceResourceScope } from '@bctrl/core';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';
import type { AiConnection } from '../generated/prisma/client';
import { uniqueNameInSpace } from '../tenancy/unique-name';

export type AiConnectionRow = AiConnection;

export interface AiConnectionFields {
  name: string;
  provider: string;
  model: string;
  baseUrl: string | null;
  apiKeySecretId: string;
}

@Injectable()
export class AiConnectionsRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  create(row: AiConnectionFields & { id: string; accountId: string; subaccountId: string | null; spaceId: string }) {
    return uniqueNameInSpace('An AI connection', row.name, () => this.db.aiConnection.create({ data: row }));
  }

  async list(principal: KeyPrincipal, spaceId: string, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.aiConnection.findMany({
      where: { AND: [spaceResourceScope(principal), { spaceId }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.aiConnection.findFirst({ where: { AND: [spaceResourceScope(principal), { id }] } });
  }

  update(id: string, name: string, data: Partial<AiConnectionFields>) {
    return uniqueNameInSpace('An AI connection', name, () => this.db.aiConnection.update({ where: { id }, data }));
  }

  delete(id: string) {
    return this.db.aiConnection.delete({ where: { id } });
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { KeyPrincipal, PageInput, pageQuery } from '@bctrl/core';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';
import { apiKeyScope } from '../tenancy/tenancy';

export interface NewApiKeyRow {
  id: string;
  accountId: string;
  subaccountId: string | null;
  name: string;
  role: string;
  spaceIds: string[];
  prefix: string;
  hash: string;
  expiresAt: Date | null;
}

@Injectable()
export class ApiKeysRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  create(row: NewApiKeyRow) {
    return this.db.apiKey.create({ data: row });
  }

  /** Revoked keys are kept (for audit) but no longer listed. */
  async list(principal: KeyPrincipal, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.apiKey.findMany({
      where: { AND: [apiKeyScope(principal), { revokedAt: null }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.apiKey.findFirst({ where: { AND: [apiKeyScope(principal), { id, revokedAt: null }] } });
  }

  findByHash(hash: string) {
    return this.db.apiKey.findUnique({ where: { hash } });
  }

  revoke(id: string) {
    return this.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
  }

  touch(id: string, at: Date) {
    return this.db.apiKey.update({ where: { id }, data: { lastUsedAt: at } });
  }

  countActive(accountId: string) {
    return this.db.apiKey.count({ where: { accountId, revokedAt: null } });
  }
}

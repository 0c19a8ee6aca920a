import { Inject, Injectable } from '@nestjs/common';
import type { NewApiKeyRow } from '../api-keys/api-keys.repository';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';

@Injectable()
export class AccountsRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  findRoot() {
    return this.db.account.findFirst({ where: { isRoot: true } });
  }

  /** The account and its first admin key appear together or not at all. */
  createWithKey(account: { id: string; name: string; isRoot: boolean }, key: NewApiKeyRow | null) {
    return this.db.$transaction(async (tx) => {
      const created = await tx.account.create({ data: account });
      if (key) await tx.apiKey.create({ data: key });
      return created;
    });
  }

  createKey(key: NewApiKeyRow) {
    return this.db.apiKey.create({ data: key });
  }

  /** Serialises first-start bootstrap across replicas that boot at the same moment. */
  async withBootstrapLock<T>(work: () => Promise<T>): Promise<T> {
    return this.db.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(hashtext('bctrl.spaces.bootstrap'))`);
        return work();
      },
      { timeout: 30_000 },
    );
  }
}

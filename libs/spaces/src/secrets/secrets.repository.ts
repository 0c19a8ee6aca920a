import { Inject, Injectable } from '@nestjs/common';
import { BctrlError, KeyPrincipal, PageInput, pageQuery, spaceResourceScope } from '@bctrl/core';
import type { SealedValue } from '@bctrl/vault';
import { SPACES_DB, SpacesDb } from '../db/spaces-db';
import type { Secret } from '../generated/prisma/client';
import { uniqueNameInSpace } from '../tenancy/unique-name';

export type SecretRow = Secret;

function sealedColumns(sealed: SealedValue) {
  return {
    kekId: sealed.kekId,
    wrappedKey: new Uint8Array(sealed.wrappedKey),
    ciphertext: new Uint8Array(sealed.ciphertext),
  };
}

export function sealedOf(row: SecretRow): SealedValue {
  return { kekId: row.kekId, wrappedKey: Buffer.from(row.wrappedKey), ciphertext: Buffer.from(row.ciphertext) };
}

@Injectable()
export class SecretsRepository {
  constructor(@Inject(SPACES_DB) private readonly db: SpacesDb) {}

  async create(
    row: {
      id: string;
      accountId: string;
      subaccountId: string | null;
      spaceId: string;
      name: string;
      description: string;
    },
    sealed: SealedValue,
  ) {
    return uniqueNameInSpace('A secret', row.name, () =>
      this.db.secret.create({ data: { ...row, ...sealedColumns(sealed) } }),
    );
  }

  async list(principal: KeyPrincipal, spaceId: string, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.secret.findMany({
      where: { AND: [spaceResourceScope(principal), { spaceId }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.secret.findFirst({ where: { AND: [spaceResourceScope(principal), { id }] } });
  }

  update(id: string, name: string, data: { name?: string; description?: string }) {
    return uniqueNameInSpace('A secret', name, () => this.db.secret.update({ where: { id }, data }));
  }

  /**
   * The new value, sealed for the version after `fromVersion`: only if no other rotation got there first, so two
   * concurrent rotations cannot both claim the same version.
   */
  async rotate(id: string, fromVersion: number, sealed: SealedValue) {
    const { count } = await this.db.secret.updateMany({
      where: { id, version: fromVersion },
      data: { version: fromVersion + 1, ...sealedColumns(sealed) },
    });
    if (count === 0) throw new BctrlError('conflict', 'The secret was rotated at the same time; try again.');
    return this.db.secret.findUniqueOrThrow({ where: { id } });
  }

  /** Whether `id` is a secret of `spaceId`: what uses a secret (a proxy, an AI connection) must live in its space. */
  async existsInSpace(id: string, spaceId: string): Promise<boolean> {
    return (await this.db.secret.count({ where: { id, spaceId } })) === 1;
  }

  markUsed(id: string) {
    return this.db.secret.update({ where: { id }, data: { lastUsedAt: new Date() }, select: { id: true } });
  }

  /** What refers to the secret, as `<kind> <id>`: a delete must not leave them without it. */
  async usersOf(id: string): Promise<string[]> {
    const [proxies, aiConnections] = await Promise.all([
      this.db.proxy.findMany({ where: { passwordSecretId: id }, select: { id: true }, orderBy: { id: 'asc' } }),
      this.db.aiConnection.findMany({ where: { apiKeySecretId: id }, select: { id: true }, orderBy: { id: 'asc' } }),
    ]);
    return [...proxies.map((p) => `proxy ${p.id}`), ...aiConnections.map((c) => `ai-connection ${c.id}`)];
  }

  /** Deletes it, or answers who still uses it (one that started using it meanwhile is caught by the foreign key). */
  async deleteUnused(id: string): Promise<{ deleted: true } | { users: string[] }> {
    const users = await this.usersOf(id);
    if (users.length > 0) return { users };
    try {
      await this.db.secret.delete({ where: { id } });
      return { deleted: true };
    } catch (error) {
      if ((error as { code?: string }).code !== 'P2003') throw error;
      return { users: await this.usersOf(id) };
    }
  }

  /** A batch of secrets sealed under any KEK but `currentKekId`, in id order after `afterId`. */
  sealedElsewhere(currentKekId: string, afterId: string, take: number) {
    return this.db.secret.findMany({
      where: { kekId: { not: currentKekId }, id: { gt: afterId } },
      orderBy: { id: 'asc' },
      take,
    });
  }

  countSealedUnder(kekId: string) {
    return this.db.secret.count({ where: { kekId } });
  }

  /** Re-wrapped, unless the row changed (a rotation) since it was read: that rotation sealed it anew already. */
  async rewrap(row: SecretRow, sealed: SealedValue): Promise<boolean> {
    const { count } = await this.db.secret.updateMany({
      where: { id: row.id, version: row.version, kekId: row.kekId },
      data: { kekId: sealed.kekId, wrappedKey: new Uint8Array(sealed.wrappedKey) },
    });
    return count === 1;
  }
}

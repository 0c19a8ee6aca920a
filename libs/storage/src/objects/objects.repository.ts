import { Inject, Injectable } from '@nestjs/common';
import { type KeyPrincipal, spaceResourceScope } from '@bctrl/core';
import { STORAGE_DB, STORAGE_DB_SCHEMA, type StorageDb } from '../db/storage-db';
import { Prisma, type SpaceObject } from '../generated/prisma/client';

/** The objects table, schema-qualified: raw statements do not go through the adapter's qualification. */
const OBJECTS = Prisma.raw(`"${STORAGE_DB_SCHEMA}"."space_objects"`);

/** The rows of space storage: one per live object, naming the version (key) of the bytes it describes. */
@Injectable()
export class ObjectsRepository {
  constructor(@Inject(STORAGE_DB) private readonly db: StorageDb) {}

  /** The object at a path the key may see: out of reach and nonexistent are both null. */
  findVisible(key: KeyPrincipal, spaceId: string, path: string): Promise<SpaceObject | null> {
    return this.db.spaceObject.findFirst({ where: { AND: [spaceResourceScope(key), { spaceId, path }] } });
  }

  /** A space's objects the key may see in path order, after a path and under a prefix, one more than `limit`. */
  listInSpace(
    key: KeyPrincipal,
    spaceId: string,
    options: { prefix: string; after: string | null; limit: number },
  ): Promise<SpaceObject[]> {
    return this.db.spaceObject.findMany({
      where: {
        AND: [
          spaceResourceScope(key),
          { spaceId },
          options.prefix ? { path: { startsWith: options.prefix } } : {},
          options.after ? { path: { gt: options.after } } : {},
        ],
      },
      orderBy: { path: 'asc' },
      take: options.limit + 1,
    });
  }

  /**
   * Points the path's row at a new upload and answers the version it described before (null: there was no row).
   * The UPDATE reads the old version under the row lock it takes, so of two PUTs racing on one path each learns
   * exactly the version it replaced, and the row always describes the bytes of whichever came last.
   */
  async swap(row: SpaceObject): Promise<string | null> {
    for (;;) {
      const updated = await this.db.$queryRaw<{ replaced: string }[]>`
        UPDATE ${OBJECTS} AS o
           SET account_id = ${row.accountId}, subaccount_id = ${row.subaccountId}, size = ${row.size},
               sha256 = ${row.sha256}, content_type = ${row.contentType}, updated_at = ${row.updatedAt},
               version = ${row.version}
          FROM (SELECT space_id, path, version FROM ${OBJECTS}
                 WHERE space_id = ${row.spaceId} AND path = ${row.path} FOR UPDATE) AS old
         WHERE o.space_id = old.space_id AND o.path = old.path
     RETURNING old.version AS replaced`;
      if (updated[0]) return updated[0].replaced;
      const inserted = await this.db.$queryRaw<{ path: string }[]>`
        INSERT INTO ${OBJECTS} (space_id, path, account_id, subaccount_id, size, sha256, content_type, updated_at, version)
        VALUES (${row.spaceId}, ${row.path}, ${row.accountId}, ${row.subaccountId}, ${row.size}, ${row.sha256},
                ${row.contentType}, ${row.updatedAt}, ${row.version})
        ON CONFLICT (space_id, path) DO NOTHING
        RETURNING path`;
      if (inserted[0]) return null;
      // Another upload created the row between the two statements: replace it like any other.
    }
  }

  /** Deletes the path's row and answers the versions whose bytes it named (none when there was no row). */
  async delete(spaceId: string, path: string): Promise<string[]> {
    const deleted = await this.db.$queryRaw<{ version: string }[]>`
      DELETE FROM ${OBJECTS} WHERE space_id = ${spaceId} AND path = ${path} RETURNING version`;
    return deleted.map((row) => row.version);
  }

  /** Every object row of a space (its bytes are the caller's to delete). */
  async deleteSpace(spaceId: string): Promise<number> {
    return (await this.db.spaceObject.deleteMany({ where: { spaceId } })).count;
  }
}

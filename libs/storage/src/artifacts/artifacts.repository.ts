import { Inject, Injectable } from '@nestjs/common';
import { type KeyPrincipal, type PageInput, pageQuery, spaceResourceScope } from '@bctrl/core';
import { STORAGE_DB, type StorageDb } from '../db/storage-db';
import type { Artifact, Prisma } from '../generated/prisma/client';

/** The artifacts table; tenancy is in every lookup a key makes. */
@Injectable()
export class ArtifactsRepository {
  constructor(@Inject(STORAGE_DB) private readonly db: StorageDb) {}

  /** An artifact the key may see: out of reach and nonexistent are both null. */
  findVisible(key: KeyPrincipal, artifactId: string): Promise<Artifact | null> {
    return this.db.artifact.findFirst({ where: { AND: [spaceResourceScope(key), { id: artifactId }] } });
  }

  findById(artifactId: string): Promise<Artifact | null> {
    return this.db.artifact.findUnique({ where: { id: artifactId } });
  }

  /** One page of a run's artifacts the key may see, newest first, with one extra row to tell whether more follow. */
  async listOfRun(key: KeyPrincipal, runId: string, page: PageInput) {
    const query = pageQuery(page);
    const rows = await this.db.artifact.findMany({
      where: { AND: [spaceResourceScope(key), { runId }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  /**
   * Records an artifact under its id. Two imports of one caller-chosen id may race (replicas, a retry): the first row
   * stands, and `created: false` hands it to the loser as its answer.
   */
  async createOnce(row: Prisma.ArtifactUncheckedCreateInput): Promise<{ created: boolean; row: Artifact }> {
    try {
      return { created: true, row: await this.db.artifact.create({ data: row }) };
    } catch (error) {
      if ((error as { code?: string }).code !== 'P2002') throw error;
      return { created: false, row: await this.db.artifact.findUniqueOrThrow({ where: { id: row.id as string } }) };
    }
  }

  /** Every artifact row of a space (its bytes are the caller's to delete). */
  async deleteSpace(spaceId: string): Promise<number> {
    return (await this.db.artifact.deleteMany({ where: { spaceId } })).count;
  }
}

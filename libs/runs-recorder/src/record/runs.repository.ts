import { Inject, Injectable } from '@nestjs/common';
import { type KeyPrincipal, type PageInput, pageQuery, spaceResourceScope } from '@bctrl/core';
import { RECORDER_DB, type RecorderDb } from '../db/recorder-db';
import type { CommandRecord, Run, RunEvent } from '../generated/prisma/client';

/** The stored runs, their events and command records as queries read them; tenancy is in every run lookup. */
@Injectable()
export class RunsRepository {
  constructor(@Inject(RECORDER_DB) private readonly db: RecorderDb) {}

  /** A run the key may see: out of reach and nonexistent are both null. */
  findVisible(key: KeyPrincipal, runId: string): Promise<Run | null> {
    return this.db.run.findFirst({ where: { AND: [spaceResourceScope(key), { id: runId }] } });
  }

  /** The run as it is now (its status and seqs move while it is read live). */
  findById(runId: string): Promise<Run | null> {
    return this.db.run.findUnique({ where: { id: runId } });
  }

  /** One page of a space's runs the key may see, newest first, with one extra row to tell whether more follow. */
  async listInSpace(key: KeyPrincipal, spaceId: string, page: PageInput) {
    const query = pageQuery(page);
    const rows = await this.db.run.findMany({
      where: { AND: [spaceResourceScope(key), { spaceId }, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  /** A run's events after `after`, in seq order. */
  eventsAfter(runId: string, after: number, limit: number): Promise<RunEvent[]> {
    return this.db.runEvent.findMany({ where: { runId, seq: { gt: after } }, orderBy: { seq: 'asc' }, take: limit });
  }

  /** A run's command records after `after`, in seq order. */
  commandsAfter(runId: string, after: number, limit: number): Promise<CommandRecord[]> {
    return this.db.commandRecord.findMany({
      where: { runId, seq: { gt: after } },
      orderBy: { seq: 'asc' },
      take: limit,
    });
  }
}

import { Inject, Injectable } from '@nestjs/common';
import { LIVE_RUNTIME_STATUSES, RuntimeStatus } from '@bctrl/contracts';
import { KeyPrincipal, PageInput, pageQuery, spaceResourceScope } from '@bctrl/core';
import { ORCHESTRATOR_DB, OrchestratorDb } from '../db/orchestrator-db';
import type { Prisma, Runtime } from '../generated/prisma/client';

export type RuntimeRow = Runtime;

@Injectable()
export class RuntimesRepository {
  constructor(@Inject(ORCHESTRATOR_DB) private readonly db: OrchestratorDb) {}

  create(row: Prisma.RuntimeCreateInput) {
    return this.db.runtime.create({ data: row });
  }

  findVisible(principal: KeyPrincipal, id: string) {
    return this.db.runtime.findFirst({ where: { AND: [spaceResourceScope(principal), { id }] } });
  }

  /** The runtime a run belongs to, if the key may see it (one runtime per run: each start opens a new one). */
  findVisibleByRun(principal: KeyPrincipal, runId: string) {
    return this.db.runtime.findFirst({ where: { AND: [spaceResourceScope(principal), { runId }] } });
  }

  findById(id: string) {
    return this.db.runtime.findUnique({ where: { id } });
  }

  async list(principal: KeyPrincipal, spaceId: string, status: string, page: PageInput | undefined) {
    const query = pageQuery(page);
    const rows = await this.db.runtime.findMany({
      where: { AND: [spaceResourceScope(principal), { spaceId }, status ? { status } : {}, query.where] },
      orderBy: query.orderBy,
      take: query.take,
    });
    return { rows, limit: query.limit };
  }

  /**
   * Moves a runtime from one of `from` to a new state, or does nothing if another actor moved it first.
   * Every transition goes through here, so two replicas (or a crash report racing a stop) cannot both win.
   */
  async transition(
    id: string,
    from: readonly RuntimeStatus[],
    data: Prisma.RuntimeUpdateInput,
  ): Promise<RuntimeRow | null> {
    // One statement (UPDATE … RETURNING): the state check, the change and the new row in a single round trip.
    const [row] = await this.db.runtime.updateManyAndReturn({ where: { id, status: { in: [...from] } }, data });
    return row ?? null;
  }

  update(id: string, data: Prisma.RuntimeUpdateInput) {
    return this.db.runtime.update({ where: { id }, data });
  }

  async touch(ids: string[], now: Date): Promise<number> {
    const { count } = await this.db.runtime.updateMany({
      where: { id: { in: ids }, status: 'ready' },
      data: { lastActivityAt: now },
    });
    return count;
  }

  countLive(spaceId: string) {
    return this.db.runtime.count({ where: { spaceId, status: { in: [...LIVE_RUNTIME_STATUSES] } } });
  }

  /** Live runtimes per status, every live status present (0 when none); for the metrics, on each collection. */
  async countLiveByStatus(): Promise<Map<RuntimeStatus, number>> {
    const groups = await this.db.runtime.groupBy({
      by: ['status'],
      where: { status: { in: [...LIVE_RUNTIME_STATUSES] } },
      _count: { _all: true },
    });
    const counts = new Map<RuntimeStatus, number>(LIVE_RUNTIME_STATUSES.map((status) => [status, 0]));
    for (const group of groups) counts.set(group.status as RuntimeStatus, group._count._all);
    return counts;
  }

  liveInSpace(spaceId: string) {
    return this.db.runtime.findMany({ where: { spaceId, status: { in: [...LIVE_RUNTIME_STATUSES] } } });
  }

  /** Live runtimes of a space whose config names the proxy (the config column is the create request's, as JSON). */
  liveUsingProxy(spaceId: string, proxyId: string) {
    return this.db.runtime.findMany({
      where: {
        spaceId,
        status: { in: [...LIVE_RUNTIME_STATUSES] },
        config: { path: ['proxyId'], equals: proxyId },
      },
      select: { id: true, accountId: true },
      orderBy: { id: 'asc' },
    });
  }

  /** Ready runtimes past their deadline, or idle past their idle timeout. */
  async due(now: Date): Promise<Array<{ row: RuntimeRow; reason: 'timeout' | 'idle' }>> {
    const ready = await this.db.runtime.findMany({ where: { status: 'ready' } });
    const due: Array<{ row: RuntimeRow; reason: 'timeout' | 'idle' }> = [];
    for (const row of ready) {
      if (row.expiresAt && row.expiresAt <= now) due.push({ row, reason: 'timeout' });
      else if (
        row.idleTimeoutSeconds > 0 &&
        row.lastActivityAt &&
        now.getTime() - row.lastActivityAt.getTime() >= row.idleTimeoutSeconds * 1000
      ) {
        due.push({ row, reason: 'idle' });
      }
    }
    return due;
  }

  /** Runtimes that should have a browser somewhere: for reconcile. */
  withBrowser() {
    return this.db.runtime.findMany({ where: { status: { in: ['starting', 'ready', 'stopping'] } } });
  }

  live() {
    return this.db.runtime.findMany({ where: { status: { in: [...LIVE_RUNTIME_STATUSES] } } });
  }
}

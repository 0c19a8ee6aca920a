import type { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import { runsV1, SpacesV1 } from '@bctrl/contracts';
import { BctrlError, isId, pageLimit, type Principal, requireKey, toPageMessage } from '@bctrl/core';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import type { Run } from '../generated/prisma/client';
import { RunStore } from './run-store';
import { RunsRepository } from './runs.repository';

const iso = (date: Date | null) => (date ? date.toISOString() : '');
/** Events and command records are small: pages of them are larger than the API's usual lists. */
const SEQ_PAGE = { fallback: 100, max: 1000 };
/** A long poll never holds a request longer than this, whatever was asked. */
const MAX_WAIT_MS = 25_000;

export function renderRun(run: Run): MessageInitShape<typeof runsV1.RunSchema> {
  return {
    id: run.id,
    spaceId: run.spaceId,
    accountId: run.accountId,
    subaccountId: run.subaccountId ?? '',
    runtimeId: run.runtimeId,
    status: run.status,
    startedAt: iso(run.startedAt),
    endedAt: iso(run.endedAt),
    eventCount: BigInt(run.eventSeq),
    commandCount: BigInt(run.commandSeq),
    artifactCount: BigInt(run.artifactCount),
    createdAt: iso(run.createdAt),
  };
}

function checkAfter(after: bigint): number {
  if (after < 0n || after > 2_147_483_647n) {
    throw BctrlError.validation([{ field: 'after', issue: 'must be a seq: a whole number from 0' }]);
  }
  return Number(after);
}

/** Reads of the stored record: runs, their events (with a long poll for live readers) and command records. */
@Injectable()
export class RunsService {
  constructor(
    private readonly runs: RunsRepository,
    @Inject(TRANSPORT) private readonly transport: Transport,
    private readonly store: RunStore,
  ) {}

  async get(principal: Principal, runId: string) {
    return renderRun(await this.findVisible(principal, runId));
  }

  async list(principal: Principal, request: runsV1.ListRunsRequest) {
    const key = requireKey(principal, 'viewer');
    // An invisible space lists as not found, exactly like a missing one.
    await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const { rows, limit } = await this.runs.listInSpace(key, request.spaceId, {
      limit: request.limit,
      cursor: request.cursor,
    });
    return toPageMessage(rows, limit, renderRun);
  }

  async events(principal: Principal, request: runsV1.ListRunEventsRequest) {
    const limit = pageLimit(request.limit, SEQ_PAGE);
    const after = checkAfter(request.after);
    let run = await this.findVisible(principal, request.runId);
    const read = () => this.runs.eventsAfter(run.id, after, limit);
    let rows = await read();
    const waitMs = Math.min(Math.max(request.waitMs, 0), MAX_WAIT_MS);
    if (rows.length === 0 && waitMs > 0 && run.status !== 'ended') {
      // Woken by this replica's own inserts at once; another replica's show up at the deadline's re-read.
      await this.store.waitForNew(run.id, waitMs);
      run = (await this.runs.findById(run.id)) ?? run;
      rows = await read();
    }
    const lastSeq = rows.length ? (rows[rows.length - 1]?.seq ?? after) : after;
    return {
      data: rows.map((row) => ({
        runId: row.runId,
        seq: BigInt(row.seq),
        type: row.type,
        at: row.at.toISOString(),
        dataJson: JSON.stringify(row.data),
      })),
      runEnded: run.status === 'ended' && lastSeq >= run.eventSeq,
      lastSeq: BigInt(lastSeq),
    };
  }

  async commands(principal: Principal, request: runsV1.ListRunCommandsRequest) {
    const limit = pageLimit(request.limit, SEQ_PAGE);
    const after = checkAfter(request.after);
    const run = await this.findVisible(principal, request.runId);
    const rows = await this.runs.commandsAfter(run.id, after, limit);
    return {
      data: rows.map((row) => ({
        runId: row.runId,
        seq: BigInt(row.seq),
        source: row.source,
        connectionId: row.connectionId,
        method: row.method,
        sessionId: row.sessionId,
        startedAt: row.startedAt.toISOString(),
        durationMicros: row.durationMicros,
        ok: row.ok,
        errorCode: row.errorCode,
        requestBytes: row.requestBytes,
        responseBytes: row.responseBytes,
      })),
      lastSeq: BigInt(rows.length ? (rows[rows.length - 1]?.seq ?? after) : after),
    };
  }

  /** Out of reach and nonexistent look the same, so a key never learns another tenant's run exists. */
  private async findVisible(principal: Principal, runId: string): Promise<Run> {
    const key = requireKey(principal, 'viewer');
    const run = isId('run', runId) ? await this.runs.findVisible(key, runId) : null;
    if (!run) throw BctrlError.notFound('run');
    return run;
  }
}

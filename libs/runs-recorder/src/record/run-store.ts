import { EventEmitter } from 'node:events';
import { Inject, Injectable } from '@nestjs/common';
import { type commandsV1, RUN_END_EVENTS, RunEvent, type runsV1 } from '@bctrl/contracts';
import type { BatchItem } from '@bctrl/transport';
import { RECORDER_DB, RECORDER_DB_SCHEMA, type RecorderDb } from '../db/recorder-db';

const S = `"${RECORDER_DB_SCHEMA}"`;

interface RunIdentity {
  runId: string;
  runtimeId: string;
  spaceId: string;
  accountId: string;
  subaccountId: string;
  at: string;
}

/**
 * Writes what arrives on the run streams: each batch in one transaction, per run under a row lock, so seqs are
 * gap-free and increasing (1, 2, 3 … in the order the stream delivered) and an event or command batch delivered
 * twice is stored once (by its publisher's id). Tells waiting readers when a run has something new.
 */
@Injectable()
export class RunStore {
  private readonly stored = new EventEmitter();

  constructor(@Inject(RECORDER_DB) private readonly db: RecorderDb) {
    this.stored.setMaxListeners(0);
  }

  /** Resolves when something new is stored for the run, or after `ms`. */
  waitForNew(runId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stored.off(runId, done);
        resolve();
      };
      // A reader still waiting must not hold a shutting-down process open.
      const timer = setTimeout(done, ms).unref();
      this.stored.on(runId, done);
    });
  }

  async storeEvents(items: BatchItem<typeof runsV1.RunEventSchema>[]): Promise<number> {
    const events = items
      .map(({ payload, meta }) => ({ ...payload, eventId: payload.eventId || `stream-${meta.streamSeq}` }))
      .filter((event) => event.runId);
    if (events.length === 0) return 0;
    const byRun = groupByRun(events, (event) => event.runId);
    let stored = 0;
    // Five statements per batch whatever the number of runs in it: that is what makes thousands per second.
    await this.db.$transaction(async (tx) => {
      const runIds = await ensureRuns(
        tx,
        [...byRun.values()].map((group) => identityOf(group[0] as runsV1.RunEvent)),
      );
      // Locked in id order, so two recorders storing overlapping runs cannot deadlock.
      const bases = new Map(
        (
          await tx.$queryRawUnsafe<{ id: string; event_seq: number }[]>(
            `SELECT id, event_seq FROM ${S}.runs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
            runIds,
          )
        ).map((row) => [row.id, row.event_seq]),
      );
      const known = new Set(
        (
          await tx.$queryRawUnsafe<{ event_id: string }[]>(
            `SELECT event_id FROM ${S}.run_events WHERE event_id = ANY($1::text[])`,
            events.map((event) => event.eventId),
          )
        ).map((row) => row.event_id),
      );
      const rows: { runId: string; seq: number; event: runsV1.RunEvent }[] = [];
      const updates: { runId: string; seq: number; endedAt: string | null; artifacts: number }[] = [];
      for (const [runId, group] of byRun) {
        let seq = bases.get(runId) ?? 0;
        let endedAt: string | null = null;
        // The run's artifacts are counted from their announcements, stored once like every event.
        let artifacts = 0;
        for (const event of group) {
          if (known.has(event.eventId)) continue;
          known.add(event.eventId);
          rows.push({ runId, seq: ++seq, event });
          if (!endedAt && (RUN_END_EVENTS as readonly string[]).includes(event.type)) endedAt = validTime(event.at);
          if (event.type === RunEvent.artifactCreated) artifacts++;
        }
        if (seq !== (bases.get(runId) ?? 0)) updates.push({ runId, seq, endedAt, artifacts });
      }
      if (rows.length === 0) return;
      await tx.$executeRawUnsafe(
        `INSERT INTO ${S}.run_events (run_id, seq, type, at, data, event_id)
         SELECT r, s, t, a, d::jsonb, e
         FROM unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS x(r, s, t, a, d, e)`,
        rows.map((row) => row.runId),
        rows.map((row) => row.seq),
        rows.map((row) => row.event.type),
        rows.map((row) => validTime(row.event.at)),
        rows.map((row) => jsonObject(row.event.dataJson)),
        rows.map((row) => row.event.eventId),
      );
      await tx.$executeRawUnsafe(
        `UPDATE ${S}.runs r SET event_seq = v.seq,
           status = CASE WHEN v.ended IS NULL THEN r.status ELSE 'ended' END,
           ended_at = COALESCE(r.ended_at, v.ended),
           artifact_count = r.artifact_count + v.artifacts
         FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[]) AS v(id, seq, ended, artifacts)
         WHERE r.id = v.id`,
        updates.map((update) => update.runId),
        updates.map((update) => update.seq),
        updates.map((update) => update.endedAt),
        updates.map((update) => update.artifacts),
      );
      stored = rows.length;
    });
    for (const runId of byRun.keys()) this.stored.emit(runId);
    return stored;
  }

  async storeCommands(items: BatchItem<typeof commandsV1.CommandBatchSchema>[]): Promise<number> {
    const records = items
      .flatMap(({ payload, meta }) =>
        payload.records.map((record, index) => ({
          record,
          batchId: payload.batchId || `stream-${meta.streamSeq}`,
          batchIndex: index,
        })),
      )
      .filter((entry) => entry.record.runId);
    if (records.length === 0) return 0;
    const byRun = groupByRun(records, (entry) => entry.record.runId);
    let stored = 0;
    // The same five statements per batch as events.
    await this.db.$transaction(async (tx) => {
      const runIds = await ensureRuns(
        tx,
        [...byRun.values()].map((group) => {
          const first = (group[0] as (typeof records)[number]).record;
          return { ...identityOf(first), at: first.startedAt };
        }),
      );
      const bases = new Map(
        (
          await tx.$queryRawUnsafe<{ id: string; command_seq: number }[]>(
            `SELECT id, command_seq FROM ${S}.runs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
            runIds,
          )
        ).map((row) => [row.id, row.command_seq]),
      );
      const known = new Set(
        (
          await tx.$queryRawUnsafe<{ key: string }[]>(
            `SELECT batch_id || ':' || batch_index AS key FROM ${S}.command_records WHERE batch_id = ANY($1::text[])`,
            [...new Set(records.map((entry) => entry.batchId))],
          )
        ).map((row) => row.key),
      );
      const rows: { runId: string; seq: number; entry: (typeof records)[number] }[] = [];
      const updates: { runId: string; seq: number }[] = [];
      for (const [runId, group] of byRun) {
        let seq = bases.get(runId) ?? 0;
        for (const entry of group) {
          const key = `${entry.batchId}:${entry.batchIndex}`;
          if (known.has(key)) continue;
          known.add(key);
          rows.push({ runId, seq: ++seq, entry });
        }
        if (seq !== (bases.get(runId) ?? 0)) updates.push({ runId, seq });
      }
      if (rows.length === 0) return;
      await tx.$executeRawUnsafe(
        `INSERT INTO ${S}.command_records (run_id, seq, source, connection_id, method, session_id, started_at,
           duration_micros, ok, error_code, request_bytes, response_bytes, batch_id, batch_index)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
           $7::timestamptz[], $8::bigint[], $9::bool[], $10::text[], $11::bigint[], $12::bigint[], $13::text[],
           $14::int[])`,
        rows.map((row) => row.runId),
        rows.map((row) => row.seq),
        rows.map((row) => row.entry.record.source || 'cdp'),
        rows.map((row) => row.entry.record.connectionId),
        rows.map((row) => row.entry.record.method),
        rows.map((row) => row.entry.record.sessionId),
        rows.map((row) => validTime(row.entry.record.startedAt)),
        rows.map((row) => row.entry.record.durationMicros.toString()),
        rows.map((row) => row.entry.record.ok),
        rows.map((row) => row.entry.record.errorCode),
        rows.map((row) => row.entry.record.requestBytes.toString()),
        rows.map((row) => row.entry.record.responseBytes.toString()),
        rows.map((row) => row.entry.batchId),
        rows.map((row) => row.entry.batchIndex),
      );
      await tx.$executeRawUnsafe(
        `UPDATE ${S}.runs r SET command_seq = v.seq FROM unnest($1::text[], $2::int[]) AS v(id, seq) WHERE r.id = v.id`,
        updates.map((update) => update.runId),
        updates.map((update) => update.seq),
      );
      stored = rows.length;
    });
    return stored;
  }
}

type Tx = Parameters<Parameters<RecorderDb['$transaction']>[0]>[0];

function identityOf(source: {
  runId: string;
  runtimeId: string;
  spaceId: string;
  accountId: string;
  subaccountId?: string;
  at?: string;
}): RunIdentity {
  return {
    runId: source.runId,
    runtimeId: source.runtimeId,
    spaceId: source.spaceId,
    accountId: source.accountId,
    subaccountId: source.subaccountId ?? '',
    at: source.at ?? '',
  };
}

/** Runs are created by the first thing stored for them; what they belong to comes with every event. */
async function ensureRuns(tx: Tx, runs: RunIdentity[]): Promise<string[]> {
  await tx.$executeRawUnsafe(
    `INSERT INTO ${S}.runs (id, account_id, subaccount_id, space_id, runtime_id, started_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     ON CONFLICT (id) DO NOTHING`,
    runs.map((run) => run.runId),
    runs.map((run) => run.accountId),
    runs.map((run) => run.subaccountId || null),
    runs.map((run) => run.spaceId),
    runs.map((run) => run.runtimeId),
    runs.map((run) => validTime(run.at)),
  );
  return runs.map((run) => run.runId);
}

function groupByRun<T>(items: T[], runOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const runId = runOf(item);
    let group = groups.get(runId);
    if (!group) groups.set(runId, (group = []));
    group.push(item);
  }
  return groups;
}

/** A publisher's bad timestamp must not make the batch fail forever: it is stored as the time it arrived. */
function validTime(value: string): string {
  return value && !Number.isNaN(Date.parse(value)) ? value : new Date().toISOString();
}

function jsonObject(text: string): string {
  try {
    const value = JSON.parse(text || '{}') as unknown;
    return JSON.stringify(typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { value });
  } catch {
    return JSON.stringify({ unparsed: text });
  }
}

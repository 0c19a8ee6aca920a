import { createPrismaAdapter } from '@bctrl/db';
import { PrismaClient } from '../generated/prisma/client';

/** runs-recorder's tables live in their own Postgres schema; no other service reads them. */
export const RECORDER_DB_SCHEMA = 'runs_recorder';
export const RECORDER_DB = Symbol.for('bctrl.runs-recorder.db');

export type RecorderDb = PrismaClient;

export function createRecorderDb(databaseUrl: string): RecorderDb {
  return new PrismaClient({ adapter: createPrismaAdapter(databaseUrl, RECORDER_DB_SCHEMA) });
}

import { createPrismaAdapter } from '@bctrl/db';
import { PrismaClient } from '../generated/prisma/client';

/** storage's tables live in their own Postgres schema; no other service reads them. */
export const STORAGE_DB_SCHEMA = 'storage';
export const STORAGE_DB = Symbol.for('bctrl.storage.db');

export type StorageDb = PrismaClient;

export function createStorageDb(databaseUrl: string): StorageDb {
  return new PrismaClient({ adapter: createPrismaAdapter(databaseUrl, STORAGE_DB_SCHEMA) });
}

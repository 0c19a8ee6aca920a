import { createPrismaAdapter } from '@bctrl/db';
import { PrismaClient } from '../generated/prisma/client';

/** The spaces service's tables live in their own Postgres schema; no other service reads them. */
export const SPACES_DB_SCHEMA = 'spaces';
export const SPACES_DB = Symbol.for('bctrl.spaces.db');

export type SpacesDb = PrismaClient;

export function createSpacesDb(databaseUrl: string): SpacesDb {
  return new PrismaClient({ adapter: createPrismaAdapter(databaseUrl, SPACES_DB_SCHEMA) });
}

import { createPrismaAdapter } from '@bctrl/db';
import { PrismaClient } from '../generated/prisma/client';

/** runtime-orchestrator's tables live in their own Postgres schema; no other service reads them. */
export const ORCHESTRATOR_DB_SCHEMA = 'runtime_orchestrator';
export const ORCHESTRATOR_DB = Symbol.for('bctrl.runtime-orchestrator.db');

export type OrchestratorDb = PrismaClient;

export function createOrchestratorDb(databaseUrl: string): OrchestratorDb {
  return new PrismaClient({ adapter: createPrismaAdapter(databaseUrl, ORCHESTRATOR_DB_SCHEMA) });
}

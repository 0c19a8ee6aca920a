import { PrismaPg } from '@prisma/adapter-pg';
import type { PoolConfig } from 'pg';

/** adapter-pg is typed against its own newer copy of @types/pg; the runtime `pg` is the same package. */
export type PrismaPgPoolArgument = ConstructorParameters<typeof PrismaPg>[0];

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export function assertSchemaName(schemaName: string): void {
  // Interpolated into DDL and search_path, so only plain lower-case identifiers are allowed.
  if (!IDENTIFIER.test(schemaName)) throw new Error(`Invalid Postgres schema name "${schemaName}"`);
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface PrismaAdapterOptions {
  /** Extra pg pool settings (max, timeouts); `connectionString` is always `databaseUrl`. */
  readonly pool?: Omit<PoolConfig, 'connectionString'>;
}

/**
 * A driver adapter whose queries target the service's own Postgres schema: adapter-pg passes `schema` to the
 * query compiler, which then qualifies every table as `"<schema>"."<Model>"`, whatever the search_path.
 */
export function createPrismaAdapter(
  databaseUrl: string,
  schemaName: string,
  options: PrismaAdapterOptions = {},
): PrismaPg {
  assertSchemaName(schemaName);
  const config: PoolConfig = { ...options.pool, connectionString: databaseUrl };
  return new PrismaPg(config as PrismaPgPoolArgument, { schema: schemaName });
}

import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { Pool } from 'pg';
import { assertSchemaName, type PrismaPgPoolArgument } from './prisma-adapter';
import { loadSchemaEngine, type SchemaEngine, type SchemaFilter } from './schema-engine';

export const NO_FILTERS: SchemaFilter = {
  externalTables: [],
  externalEnums: [],
};

export interface SchemaEngineSessionOptions {
  readonly databaseUrl: string;
  readonly schemaName: string;
  /** The service's schema.prisma: path (for messages) and content. */
  readonly datamodel: readonly [string, string];
  readonly log?: (line: string) => void;
}

/**
 * Runs `work` with a wasm schema engine connected to the service's Postgres schema, then frees the engine
 * and closes its pool (an open pool would keep the process alive for pg's idle timeout).
 *
 * The engine writes unqualified DDL and its `_prisma_migrations` table, so the pool's search_path is set to
 * the service schema alone: that is what `?schema=` does for the native engine, which keeps the result
 * compatible with `prisma migrate deploy` run by an operator.
 */
export async function withSchemaEngine<T>(
  options: SchemaEngineSessionOptions,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  assertSchemaName(options.schemaName);
  const { SchemaEngine } = await loadSchemaEngine();
  const pool = new Pool({
    connectionString: options.databaseUrl,
    options: `-c search_path=${options.schemaName}`,
    max: 2,
  });
  // An idle client dropped by the server must not crash the process through an unhandled 'error' event.
  pool.on('error', () => undefined);
  try {
    const adapter = bindMigrationAwareSqlAdapterFactory(
      new PrismaPg(pool as unknown as PrismaPgPoolArgument, {
        schema: options.schemaName,
      }),
    );
    const engine = await SchemaEngine.new(
      { datamodels: [[options.datamodel[0], options.datamodel[1]]] },
      (line: string) => options.log?.(line),
      adapter,
    );
    try {
      return await work(engine);
    } finally {
      engine.free();
    }
  } finally {
    await pool.end();
  }
}

/** The wasm engine rejects with plain objects or strings as often as with Errors. */
export function describeEngineError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && 'message' in error && typeof error.message === 'string') {
    return error.message;
  }
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

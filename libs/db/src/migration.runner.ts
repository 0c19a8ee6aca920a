import { Client } from 'pg';
import { migrationsDir, readMigrationDirectories, readMigrationLock, readSchema, schemaPath } from './migration.files';
import { quoteIdentifier } from './prisma-adapter';
import { describeEngineError, NO_FILTERS, withSchemaEngine } from './schema-engine.session';
import { defaultWorkspaceRoot, listServiceDatabases, type ServiceDatabase, serviceDatabase } from './service-database';

export interface MigrationResult {
  readonly service: string;
  readonly schemaName: string;
  /** Names of the migrations this run applied, oldest first; empty when the schema was already up to date. */
  readonly applied: string[];
}

export interface MigrateOptions {
  readonly workspaceRoot?: string;
  /** Receives the schema engine's JSON log lines; silent by default. */
  readonly log?: (line: string) => void;
}

/** First key of the two-int advisory lock: keeps our locks apart from other users of advisory locks. */
const LOCK_NAMESPACE = 0x6263_7472; // "bctr"

export class MigrationError extends Error {
  constructor(
    readonly service: string,
    cause: unknown,
  ) {
    super(`Migrating ${service} failed: ${describeEngineError(cause)}`, {
      cause,
    });
    this.name = 'MigrationError';
  }
}

/**
 * Applies a service's committed migrations with Prisma's wasm schema engine, which records them in
 * `<schema>._prisma_migrations` exactly as `prisma migrate deploy` would.
 *
 * Replicas of a service start together and all migrate, so a session advisory lock per Postgres schema
 * serialises them: the one that waited then finds everything applied. Schema creation sits under the lock too,
 * since concurrent `CREATE SCHEMA IF NOT EXISTS` can still fail on the catalog's unique index.
 */
export class MigrationRunner {
  constructor(
    private readonly databaseUrl: string,
    private readonly log?: (line: string) => void,
  ) {}

  async migrate(target: ServiceDatabase): Promise<MigrationResult> {
    const result = (applied: string[]): MigrationResult => ({
      service: target.service,
      schemaName: target.schemaName,
      applied,
    });
    try {
      const migrations = readMigrationDirectories(target);
      const datamodel = [schemaPath(target), readSchema(target)] as const;
      return await this.withLock(target.schemaName, async (client) => {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(target.schemaName)}`);
        if (migrations.length === 0) return result([]);
        const output = await withSchemaEngine(
          {
            databaseUrl: this.databaseUrl,
            schemaName: target.schemaName,
            datamodel,
            log: this.log,
          },
          (engine) =>
            engine.applyMigrations({
              migrationsList: {
                baseDir: migrationsDir(target),
                lockfile: {
                  path: 'migration_lock.toml',
                  content: readMigrationLock(target),
                },
                shadowDbInitScript: '',
                migrationDirectories: migrations,
              },
              filters: NO_FILTERS,
            }),
        );
        return result(output.appliedMigrationNames);
      });
    } catch (error) {
      throw error instanceof MigrationError ? error : new MigrationError(target.service, error);
    }
  }

  private async withLock<T>(schemaName: string, work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ connectionString: this.databaseUrl });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_NAMESPACE, schemaName]);
      return await work(client);
    } finally {
      // Closing the session releases the lock even when the unlock query cannot run.
      await client.end().catch(() => undefined);
    }
  }
}

/** Migrates one service, given by name (libs/<name>/prisma) or by an explicit location (tests, bundles). */
export function migrateService(
  databaseUrl: string,
  service: string | ServiceDatabase,
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const target = typeof service === 'string' ? serviceDatabase(service, options.workspaceRoot) : service;
  return new MigrationRunner(databaseUrl, options.log).migrate(target);
}

/** Migrates every service that has a prisma/schema.prisma, one after another, stopping at the first failure. */
export async function migrateAll(databaseUrl: string, options: MigrateOptions = {}): Promise<MigrationResult[]> {
  const runner = new MigrationRunner(databaseUrl, options.log);
  const results: MigrationResult[] = [];
  for (const target of listServiceDatabases(options.workspaceRoot ?? defaultWorkspaceRoot())) {
    results.push(await runner.migrate(target));
  }
  return results;
}

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MIGRATION_LOCK_CONTENT,
  MIGRATION_LOCK_FILE,
  migrationsDir,
  readMigrationDirectories,
  readSchema,
  schemaPath,
} from './migration.files';
import { describeEngineError, NO_FILTERS, withSchemaEngine } from './schema-engine.session';
import { type ServiceDatabase, serviceDatabase } from './service-database';

/**
 * The schema.prisma each new migration was diffed to, committed next to the migrations.
 *
 * Diffing from it needs no database: the alternative, replaying the migrations into a shadow database and
 * introspecting it, is what the wasm engine cannot do through adapter-pg. The cost: a hand-edited migration.sql
 * is not seen by the next diff, so such edits must also be reflected in schema.prisma (which they should be).
 */
export const SCHEMA_SNAPSHOT_FILE = '.schema-snapshot.prisma';

export interface DiffOptions {
  /**
   * Any reachable Postgres: the wasm engine connects before diffing even two datamodels, but reads and writes
   * nothing there. tools/db/new-migration.ts starts a throwaway embedded one when DATABASE_URL is unset.
   */
  readonly databaseUrl: string;
  readonly workspaceRoot?: string;
}

function resolveTarget(service: string | ServiceDatabase, options: { workspaceRoot?: string }): ServiceDatabase {
  return typeof service === 'string' ? serviceDatabase(service, options.workspaceRoot) : service;
}

function snapshotPath(target: ServiceDatabase): string {
  return join(migrationsDir(target), SCHEMA_SNAPSHOT_FILE);
}

/**
 * SQL taking the service's schema from its last migration's snapshot (or an empty database, when it has no
 * migrations yet) to the current schema.prisma; an empty string when nothing changed.
 */
export async function diffMigration(service: string | ServiceDatabase, options: DiffOptions): Promise<string> {
  const target = resolveTarget(service, options);
  const current = readSchema(target);
  const hasMigrations = readMigrationDirectories(target).length > 0;
  const snapshot = snapshotPath(target);
  if (hasMigrations && !existsSync(snapshot)) {
    throw new Error(
      `${target.service} has migrations but no ${SCHEMA_SNAPSHOT_FILE}: copy the schema.prisma matching its last ` +
        `migration to ${snapshot}, then diff again`,
    );
  }
  const from = hasMigrations
    ? {
        tag: 'schemaDatamodel' as const,
        files: [{ path: snapshot, content: readFileSync(snapshot, 'utf8') }],
      }
    : { tag: 'empty' as const };
  try {
    const result = await withSchemaEngine(
      {
        databaseUrl: options.databaseUrl,
        schemaName: target.schemaName,
        datamodel: [schemaPath(target), current],
      },
      (engine) =>
        engine.diff({
          from,
          to: {
            tag: 'schemaDatamodel',
            files: [{ path: schemaPath(target), content: current }],
          },
          script: true,
          exitCode: null,
          filters: NO_FILTERS,
        }),
    );
    return isEmptyMigration(result.stdout ?? '') ? '' : (result.stdout ?? '');
  } catch (error) {
    throw new Error(`Diffing ${target.service} failed: ${describeEngineError(error)}`, { cause: error });
  }
}

function isEmptyMigration(sql: string): boolean {
  return sql.split('\n').every((line) => line.trim() === '' || line.trim().startsWith('--'));
}

export interface CreatedMigration {
  readonly name: string;
  readonly directory: string;
  readonly sql: string;
}

export interface CreateMigrationOptions extends DiffOptions {
  /** For tests: the migration's timestamp. */
  readonly now?: Date;
}

/**
 * Writes `migrations/<UTC yyyyMMddHHmmss>_<name>/migration.sql` from {@link diffMigration}, refreshes the
 * snapshot and the lock file; returns null (writing nothing) when schema.prisma has not changed.
 */
export async function createMigration(
  service: string | ServiceDatabase,
  name: string,
  options: CreateMigrationOptions,
): Promise<CreatedMigration | null> {
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!slug) throw new Error(`Migration name "${name}" has no letters or digits`);
  const target = resolveTarget(service, options);
  const sql = await diffMigration(target, options);
  if (!sql) return null;
  const stamp = (options.now ?? new Date()).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const dirName = `${stamp}_${slug}`;
  const directory = join(migrationsDir(target), dirName);
  if (existsSync(directory)) throw new Error(`${directory} already exists`);
  mkdirSync(directory, { recursive: true });
  writeFileSync(join(directory, 'migration.sql'), sql);
  writeFileSync(snapshotPath(target), readSchema(target));
  const lockFile = join(migrationsDir(target), MIGRATION_LOCK_FILE);
  if (!existsSync(lockFile)) writeFileSync(lockFile, MIGRATION_LOCK_CONTENT);
  return { name: dirName, directory, sql };
}

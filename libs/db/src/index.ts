export { createPrismaAdapter, type PrismaAdapterOptions } from './prisma-adapter';
export {
  defaultWorkspaceRoot,
  listServiceDatabases,
  postgresSchemaName,
  serviceDatabase,
  type ServiceDatabase,
} from './service-database';
export {
  migrateAll,
  migrateService,
  MigrationError,
  MigrationRunner,
  type MigrateOptions,
  type MigrationResult,
} from './migration.runner';
export {
  createMigration,
  diffMigration,
  SCHEMA_SNAPSHOT_FILE,
  type CreatedMigration,
  type CreateMigrationOptions,
  type DiffOptions,
} from './migration.diff';

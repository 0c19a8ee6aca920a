import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where one data-owning service keeps its Prisma schema and migrations, and the Postgres schema it owns. */
export interface ServiceDatabase {
  /** The lib's directory name under libs/, e.g. `runs-recorder`. */
  readonly service: string;
  /** The Postgres schema holding every table of the service, e.g. `runs_recorder`. */
  readonly schemaName: string;
  /** `libs/<service>/prisma`: schema.prisma, migrations/. */
  readonly prismaDir: string;
}

const SERVICE_NAME = /^[a-z][a-z0-9-]*$/;

/** Services share one database, so each one's tables live in a Postgres schema named after it. */
export function postgresSchemaName(service: string): string {
  if (!SERVICE_NAME.test(service)) {
    throw new Error(`Service name "${service}" must be kebab-case (a-z, 0-9, -) to map to a Postgres schema`);
  }
  return service.replace(/-/g, '_');
}

/**
 * The repo root, found from this file: tools and local mode run from source (swc-node, jest), where this holds.
 * A bundled app must pass its own root, since migrations are read from libs/<service>/prisma at run time.
 */
export function defaultWorkspaceRoot(): string {
  return resolve(__dirname, '../../..');
}

export function serviceDatabase(service: string, workspaceRoot = defaultWorkspaceRoot()): ServiceDatabase {
  return {
    service,
    schemaName: postgresSchemaName(service),
    prismaDir: join(workspaceRoot, 'libs', service, 'prisma'),
  };
}

/** Every lib with a `prisma/schema.prisma`, sorted so that runs are reproducible. */
export function listServiceDatabases(workspaceRoot = defaultWorkspaceRoot()): ServiceDatabase[] {
  const libs = join(workspaceRoot, 'libs');
  return readdirSync(libs, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(libs, entry.name, 'prisma', 'schema.prisma')))
    .map((entry) => entry.name)
    .sort()
    .map((service) => serviceDatabase(service, workspaceRoot));
}

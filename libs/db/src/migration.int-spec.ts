import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, withPgClient } from '@bctrl/testing';
import { createMigration, createPrismaAdapter, diffMigration, migrateService, type ServiceDatabase } from './index';

jest.setTimeout(120_000);

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is unset: run through jest, whose global setup starts Postgres`);
  }
  return value;
}

const adminUrl = requiredEnv('BCTRL_TEST_DATABASE_URL');

const workspaceRoot = join(__dirname, '../../..');
const fixture: ServiceDatabase = {
  service: 'fixture-svc',
  schemaName: 'fixture_svc',
  prismaDir: join(__dirname, '__fixtures__', 'fixture-svc', 'prisma'),
};
const fixtureMigrations = readdirSync(join(fixture.prismaDir, 'migrations'), {
  withFileTypes: true,
})
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

// Under the repo's ignored tmp/ rather than the OS temp dir, so a generated client resolves @prisma/client.
const scratch = join(workspaceRoot, 'tmp', `db-int-spec-${randomUUID()}`);
const createdDatabases: string[] = [];

const withClient = withPgClient;

async function freshDatabase(): Promise<string> {
  const url = await createTestDatabase(adminUrl, 'db_spec');
  createdDatabases.push(new URL(url).pathname.slice(1));
  return url;
}

/** A writable copy of the fixture service, for changes the committed fixture must not see. */
function copyFixture(label: string): ServiceDatabase {
  const prismaDir = join(scratch, label, 'prisma');
  mkdirSync(prismaDir, { recursive: true });
  cpSync(fixture.prismaDir, prismaDir, { recursive: true });
  return { ...fixture, prismaDir };
}

async function appliedMigrations(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM fixture_svc._prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name',
    );
    return rows.map((row) => row.migration_name);
  });
}

afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await withClient(adminUrl, async (client) => {
    for (const name of createdDatabases) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
});

describe('migrateService', () => {
  let databaseUrl: string;

  beforeAll(async () => {
    databaseUrl = await freshDatabase();
  });

  it('applies the migrations into the service schema and records them in its _prisma_migrations', async () => {
    const result = await migrateService(databaseUrl, fixture);

    expect(result).toEqual({
      service: 'fixture-svc',
      schemaName: 'fixture_svc',
      applied: fixtureMigrations,
    });
    const tables = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{
        table_schema: string;
        table_name: string;
      }>(
        `SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_schema, table_name`,
      );
      return rows.map((row) => `${row.table_schema}.${row.table_name}`);
    });
    expect(tables).toEqual(['fixture_svc._prisma_migrations', 'fixture_svc.parts', 'fixture_svc.widgets']);
    expect(await appliedMigrations(databaseUrl)).toEqual(fixtureMigrations);
  });

  it('applies nothing when run again', async () => {
    const result = await migrateService(databaseUrl, fixture);

    expect(result.applied).toEqual([]);
    expect(await appliedMigrations(databaseUrl)).toEqual(fixtureMigrations);
  });

  it('applies a migration added later, and only that one', async () => {
    const service = copyFixture('later');
    appendFileSync(join(service.prismaDir, 'schema.prisma'), '\nmodel Gadget {\n  id String @id\n}\n');
    const created = await createMigration(service, 'add gadget', {
      databaseUrl,
      now: new Date('2999-01-01'),
    });

    const result = await migrateService(databaseUrl, service);

    expect(created?.name).toBe('29990101000000_add_gadget');
    expect(result.applied).toEqual(['29990101000000_add_gadget']);
    expect(await appliedMigrations(databaseUrl)).toEqual([...fixtureMigrations, '29990101000000_add_gadget']);
  });

  it('fails with the service name when a migration is broken, and keeps failing until resolved', async () => {
    const service = copyFixture('broken');
    const dir = join(service.prismaDir, 'migrations', '29990101000000_broken');
    mkdirSync(dir);
    appendFileSync(join(dir, 'migration.sql'), 'ALTER TABLE "no_such_table" ADD COLUMN "x" INT;\n');
    const other = await freshDatabase();

    await expect(migrateService(other, service)).rejects.toThrow(/^Migrating fixture-svc failed: /);
    await expect(migrateService(other, service)).rejects.toThrow(/failed migrations|29990101000000_broken/);
  });
});

describe('concurrent migrateService', () => {
  it('lets both runs succeed and applies each migration once', async () => {
    const databaseUrl = await freshDatabase();

    const results = await Promise.all([migrateService(databaseUrl, fixture), migrateService(databaseUrl, fixture)]);

    expect(results.map((result) => result.applied).sort()).toEqual([[], fixtureMigrations]);
    const rows = await withClient(databaseUrl, (client) =>
      client.query('SELECT migration_name FROM fixture_svc._prisma_migrations'),
    );
    expect(rows.rowCount).toBe(fixtureMigrations.length);
  });
});

describe('diffMigration', () => {
  it('is empty when schema.prisma matches the last migration', async () => {
    expect(await diffMigration(fixture, { databaseUrl: adminUrl })).toBe('');
  });

  it('yields a CREATE TABLE for a model added since the last migration', async () => {
    const service = copyFixture('diff');
    appendFileSync(join(service.prismaDir, 'schema.prisma'), '\nmodel Gizmo {\n  id String @id\n  size Int\n}\n');

    const sql = await diffMigration(service, { databaseUrl: adminUrl });

    expect(sql).toMatch(/CREATE TABLE "Gizmo" \(\s*"id" TEXT NOT NULL,\s*"size" INTEGER NOT NULL/);
    expect(sql).not.toMatch(/"widgets"/);
  });

  it('starts from an empty database for a service without migrations', async () => {
    const service = copyFixture('empty');
    rmSync(join(service.prismaDir, 'migrations'), { recursive: true });

    const sql = await diffMigration(service, { databaseUrl: adminUrl });

    expect(sql).toContain('CREATE TABLE "widgets"');
    expect(sql).toContain('CREATE TABLE "parts"');
  });
});

interface FixtureClient {
  widget: {
    create(args: {
      data: {
        id: string;
        name: string;
        parts: { create: { id: string; quantity: number }[] };
      };
    }): Promise<unknown>;
    findUnique(args: { where: { id: string }; include: { parts: true } }): Promise<{
      name: string;
      parts: { id: string; quantity: number }[];
    } | null>;
  };
  $disconnect(): Promise<void>;
}

describe('a generated client through createPrismaAdapter', () => {
  let databaseUrl: string;
  let prisma: FixtureClient;

  beforeAll(async () => {
    databaseUrl = await freshDatabase();
    await migrateService(databaseUrl, fixture);
    const service = copyFixture('client');
    execFileSync(
      process.execPath,
      [require.resolve('prisma/build/index.js'), 'generate', '--schema', join(service.prismaDir, 'schema.prisma')],
      {
        cwd: workspaceRoot,
        env: {
          ...process.env,
          PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
          PRISMA_HIDE_UPDATE_MESSAGE: '1',
        },
        stdio: 'pipe',
      },
    );
    const generated = require(join(service.prismaDir, '..', 'src', 'generated', 'prisma', 'client')) as {
      PrismaClient: new (options: { adapter: unknown }) => FixtureClient;
    };
    prisma = new generated.PrismaClient({
      adapter: createPrismaAdapter(databaseUrl, fixture.schemaName),
    });
  });

  afterAll(async () => {
    await prisma?.$disconnect();
  });

  it('inserts and queries rows in the service schema', async () => {
    await prisma.widget.create({
      data: {
        id: 'w1',
        name: 'sprocket',
        parts: { create: [{ id: 'p1', quantity: 3 }] },
      },
    });

    const found = await prisma.widget.findUnique({
      where: { id: 'w1' },
      include: { parts: true },
    });

    expect(found).toMatchObject({
      name: 'sprocket',
      parts: [{ id: 'p1', quantity: 3 }],
    });
    const count = await withClient(databaseUrl, (client) =>
      client.query('SELECT count(*)::int AS n FROM fixture_svc.parts'),
    );
    expect(count.rows[0]).toEqual({ n: 1 });
  });
});

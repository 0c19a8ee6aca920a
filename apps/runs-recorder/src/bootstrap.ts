import { migrateService } from '@bctrl/db';
import { RunsRecorderModule } from '@bctrl/runs-recorder';
import { runServiceProcess } from '@bctrl/service';

/**
 * runs-recorder as its own process: applies its migrations (under an advisory lock), then stores the run streams
 * from JetStream (durable consumers: nothing is lost while it is down) and serves the record.
 */
export function bootstrap() {
  const workspaceRoot = process.env.BCTRL_WORKSPACE_ROOT ?? process.cwd();
  return runServiceProcess({
    service: 'runs-recorder',
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'runs-recorder', { workspaceRoot });
    },
    modules: (config) => [RunsRecorderModule.forRoot({ databaseUrl: config.databaseUrl as string })],
  });
}

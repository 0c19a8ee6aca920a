import { migrateService } from '@bctrl/db';
import { RunsRecorderModule, runsRecorderSettings } from '@bctrl/runs-recorder';
import { runServiceProcess } from '@bctrl/service';

/**
 * runs-recorder as its own process: applies its migrations (under an advisory lock), then stores the run streams
 * from JetStream (durable consumers: nothing is lost while it is down) and serves the record.
 */
export function bootstrap() {
  return runServiceProcess({
    service: 'runs-recorder',
    settings: runsRecorderSettings,
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'runs-recorder', { workspaceRoot: config.workspaceRoot });
    },
    modules: (config) => [RunsRecorderModule.forRoot({ databaseUrl: config.databaseUrl as string })],
  });
}

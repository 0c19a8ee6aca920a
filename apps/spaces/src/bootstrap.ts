import { migrateService } from '@bctrl/db';
import { runServiceProcess } from '@bctrl/service';
import { SpacesModule, spacesSettings } from '@bctrl/spaces';

/**
 * The spaces service as its own process. It applies its own migrations before serving (under an advisory
 * lock, so replicas starting together are safe); `npm run db:migrate` does the same ahead of a rollout.
 */
export function bootstrap() {
  return runServiceProcess({
    service: 'spaces',
    settings: spacesSettings,
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'spaces', { workspaceRoot: config.workspaceRoot });
    },
    modules: (config) => [
      SpacesModule.forRoot({ databaseUrl: config.databaseUrl as string, bootstrapApiKey: config.bootstrapApiKey }),
    ],
  });
}

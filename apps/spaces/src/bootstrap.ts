import { migrateService } from '@bctrl/db';
import { runServiceProcess } from '@bctrl/service';
import { SpacesModule } from '@bctrl/spaces';

/**
 * The spaces service as its own process. It applies its own migrations before serving (under an advisory
 * lock, so replicas starting together are safe); `npm run db:migrate` does the same ahead of a rollout.
 */
export function bootstrap() {
  return runServiceProcess({
    service: 'spaces',
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'spaces', {
        workspaceRoot: process.env.BCTRL_WORKSPACE_ROOT ?? process.cwd(),
      });
    },
    modules: (config) => [
      SpacesModule.forRoot({ databaseUrl: config.databaseUrl as string, bootstrapApiKey: config.bootstrapApiKey }),
    ],
  });
}

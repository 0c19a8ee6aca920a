import { migrateService } from '@bctrl/db';
import {
  orchestratorOptions,
  RuntimeOrchestratorModule,
  runtimeOrchestratorSettings,
} from '@bctrl/runtime-orchestrator';
import { runServiceProcess } from '@bctrl/service';

/**
 * runtime-orchestrator as its own process: applies its migrations (under an advisory lock), then runs the
 * lifecycle, the driver (BCTRL_BROWSER_DRIVER), the warm pool and reconcile.
 */
export function bootstrap() {
  return runServiceProcess({
    service: 'runtime-orchestrator',
    settings: runtimeOrchestratorSettings,
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'runtime-orchestrator', {
        workspaceRoot: config.workspaceRoot,
      });
    },
    modules: (config) => [
      RuntimeOrchestratorModule.forRoot(
        orchestratorOptions(config, { databaseUrl: config.databaseUrl as string, workspaceRoot: config.workspaceRoot }),
      ),
    ],
  });
}

import { migrateService } from '@bctrl/db';
import { orchestratorOptions, RuntimeOrchestratorModule } from '@bctrl/runtime-orchestrator';
import { runServiceProcess } from '@bctrl/service';

/**
 * runtime-orchestrator as its own process: applies its migrations (under an advisory lock), then runs the
 * lifecycle, the driver (BCTRL_BROWSER_DRIVER), the warm pool and reconcile.
 */
export function bootstrap() {
  const workspaceRoot = process.env.BCTRL_WORKSPACE_ROOT ?? process.cwd();
  return runServiceProcess({
    service: 'runtime-orchestrator',
    prepare: async (config) => {
      await migrateService(config.databaseUrl as string, 'runtime-orchestrator', { workspaceRoot });
    },
    modules: (config) => [
      RuntimeOrchestratorModule.forRoot(
        orchestratorOptions(config, { databaseUrl: config.databaseUrl as string, workspaceRoot }),
      ),
    ],
  });
}

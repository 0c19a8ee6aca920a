import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { defineService } from '@bctrl/service';
import { orchestratorOptions } from './runtime-orchestrator.factory';
import { RuntimeOrchestratorModule } from './runtime-orchestrator.module';
import { runtimeOrchestratorSettings } from './runtime-orchestrator.settings';

/**
 * Browsers of one local install are told apart from another's (two data dirs, two test runs) by an installation id
 * derived from the data directory, unless the operator set one.
 */
export function localInstallationId(installationId: string, dataDir: string): string {
  if (installationId !== 'bctrl') return installationId;
  return `local-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12)}`;
}

/** runtime-orchestrator, for its own app and for local mode: the lifecycle, the driver, the warm pool, reconcile. */
export const runtimeOrchestratorService = defineService({
  name: 'runtime-orchestrator',
  settings: runtimeOrchestratorSettings,
  ownsTables: true,
  adapters: {
    distributed: (config) => ({ installationId: config.installationId }),
    local: (config, context) => ({ installationId: localInstallationId(config.installationId, context.dataDir) }),
  },
  modules: (config, adapters) => [
    RuntimeOrchestratorModule.forRoot(
      orchestratorOptions(config, {
        databaseUrl: config.databaseUrl as string,
        workspaceRoot: config.workspaceRoot,
        installationId: adapters.installationId,
      }),
    ),
  ],
});

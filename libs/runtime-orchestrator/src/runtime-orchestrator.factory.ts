import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import type { ConfigOf } from '@bctrl/config';
import type { BrowserDriver } from './drivers/browser-driver';
import { KubernetesDriver } from './drivers/kubernetes.driver';
import { LocalProcessDriver } from './drivers/local-process.driver';
import type { RuntimeOrchestratorOptions } from './runtime-orchestrator.options';
import type { runtimeOrchestratorSettings } from './runtime-orchestrator.settings';

/** What the orchestrator reads: its own settings (local mode hands it the whole platform's, a superset). */
type OrchestratorConfig = ConfigOf<typeof runtimeOrchestratorSettings>;

export interface OrchestratorSetup {
  databaseUrl: string;
  /** Where the built apps and sources live (the local driver starts browser-runtime from there). */
  workspaceRoot: string;
  /** Overrides BCTRL_INSTALLATION_ID (local mode derives one from its data directory). */
  installationId?: string;
}

export function createBrowserDriver(config: OrchestratorConfig, setup: OrchestratorSetup): BrowserDriver {
  const installationId = setup.installationId ?? config.installationId;
  switch (config.browserDriver) {
    case 'local-process':
      return new LocalProcessDriver({ installationId, repoRoot: setup.workspaceRoot, chromePath: config.chromePath });
    case 'kubernetes': {
      // In a pod: the service account's in-cluster config; elsewhere: KUBECONFIG or ~/.kube/config.
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromDefault();
      return new KubernetesDriver({
        kubeConfig,
        namespace: config.runtimeNamespace,
        image: config.runtimeImage,
        installationId,
        cdpPort: config.runtimeCdpPort,
        ...(config.runtimeServiceAccount ? { serviceAccountName: config.runtimeServiceAccount } : {}),
      });
    }
  }
}

/** The orchestrator's options from the platform settings, shared by its own app and local mode. */
export function orchestratorOptions(config: OrchestratorConfig, setup: OrchestratorSetup): RuntimeOrchestratorOptions {
  const installationId = setup.installationId ?? config.installationId;
  return {
    databaseUrl: setup.databaseUrl,
    driver: createBrowserDriver(config, setup),
    warmPoolSize: config.warmPoolSize,
    defaultTimeoutSeconds: config.runtimeDefaultTimeout,
    maxTimeoutSeconds: config.runtimeMaxTimeout,
    replicaId: `${installationId}/${hostname()}`,
    reconcileIntervalMs: config.reconcileIntervalSeconds * 1000,
  };
}

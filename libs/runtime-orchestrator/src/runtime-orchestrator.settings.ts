import { pickSettings, platformSettings } from '@bctrl/config';

/** The orchestrator's own settings (beside every service process's): its database, the browser driver and its
 * limits, and where the built apps are (the local driver starts browser-runtime from there). */
export const runtimeOrchestratorSettings = pickSettings(
  platformSettings,
  'databaseUrl',
  'browserDriver',
  'chromePath',
  'warmPoolSize',
  'runtimeDefaultTimeout',
  'runtimeMaxTimeout',
  'installationId',
  'reconcileIntervalSeconds',
  'runtimeNamespace',
  'runtimeImage',
  'runtimeServiceAccount',
  'runtimeCdpPort',
  'workspaceRoot',
);

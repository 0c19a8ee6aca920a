import type { BrowserDriver } from './drivers/browser-driver';

export interface RuntimeOrchestratorOptions {
  databaseUrl: string;
  driver: BrowserDriver;
  warmPoolSize: number;
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  /** This replica's stable name (hostname, pod name): after a restart it recognises launches it abandoned. */
  replicaId: string;
  reconcileIntervalMs: number;
  /** How often timeouts and idle stops are checked. */
  sweepIntervalMs?: number;
  /** How long `wait=true` waits for ready before answering with the runtime as it is. */
  waitTimeoutMs?: number;
}

export const ORCHESTRATOR_OPTIONS = Symbol.for('bctrl.runtime-orchestrator.options');
export const BROWSER_DRIVER = Symbol.for('bctrl.runtime-orchestrator.driver');
export const WARM_POOL = Symbol.for('bctrl.runtime-orchestrator.pool');

export * from './runtime-orchestrator.module';
export * from './drivers/browser-driver';
export { RuntimesService } from './runtimes/runtimes.service';
export { Supervisor } from './lifecycle/supervisor';
export type { RuntimeOrchestratorOptions } from './runtimes/runtime-options';
export * from './runtime-orchestrator.factory';
export { WARM_POOL } from './runtimes/runtime-options';
export type { WarmPool } from './pool/warm-pool';

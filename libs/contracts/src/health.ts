import { HealthRequestSchema, HealthResponseSchema } from './generated/bctrl/common/v1/common_pb';
import { defineMethod } from './method';

/** Every service answers `<service>.v1.health` so that readiness can be checked across the transport. */
export function healthMethod(service: string) {
  return defineMethod(service, `${service}.v1.health`, HealthRequestSchema, HealthResponseSchema);
}

export const SERVICES = [
  'gateway',
  'spaces',
  'runtime-orchestrator',
  'cdp-proxy',
  'invocation-worker',
  'runs-recorder',
  'storage',
  'browser-runtime',
] as const;
export type ServiceName = (typeof SERVICES)[number];

import { runtimeOrchestratorService } from '@bctrl/runtime-orchestrator';
import { runService } from '@bctrl/service';

/** runtime-orchestrator as its own process, with the driver BCTRL_BROWSER_DRIVER names. */
export function bootstrap() {
  return runService(runtimeOrchestratorService);
}

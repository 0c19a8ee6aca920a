import { invocationWorkerService } from '@bctrl/invocation-worker';
import { runService } from '@bctrl/service';

/** invocation-worker as its own process. */
export function bootstrap() {
  return runService(invocationWorkerService);
}

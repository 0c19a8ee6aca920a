import { runsRecorderService } from '@bctrl/runs-recorder';
import { runService } from '@bctrl/service';

/** runs-recorder as its own process. */
export function bootstrap() {
  return runService(runsRecorderService);
}

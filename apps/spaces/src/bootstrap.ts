import { runService } from '@bctrl/service';
import { spacesService } from '@bctrl/spaces';

/** The spaces service as its own process: its migrations first (`npm run db:migrate` does the same ahead of a rollout). */
export function bootstrap() {
  return runService(spacesService);
}

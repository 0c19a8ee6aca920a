import { runService } from '@bctrl/service';
import { storageService } from '@bctrl/storage';

/** storage as its own process: its metadata calls on NATS, object bytes for the gateway on BCTRL_STORAGE_PORT. */
export function bootstrap() {
  return runService(storageService);
}

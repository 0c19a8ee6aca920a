import { defineService } from '@bctrl/service';
import { RunsRecorderModule } from './runs-recorder.module';
import { runsRecorderSettings } from './runs-recorder.settings';

/**
 * runs-recorder, for its own app and for local mode: it stores the run streams (durable JetStream consumers in
 * distributed mode: nothing is lost while it is down) and serves the record.
 */
export const runsRecorderService = defineService({
  name: 'runs-recorder',
  settings: runsRecorderSettings,
  ownsTables: true,
  adapters: { distributed: () => undefined, local: () => undefined },
  modules: (config) => [RunsRecorderModule.forRoot({ databaseUrl: config.databaseUrl as string })],
});

import { defineService } from '@bctrl/service';
import { SpacesModule } from './spaces.module';
import { spacesSettings } from './spaces.settings';

/** The spaces service, for its own app and for local mode. */
export const spacesService = defineService({
  name: 'spaces',
  settings: spacesSettings,
  ownsTables: true,
  adapters: {
    // A root account only from a configured key: a generated one would have to be shown in a log line.
    distributed: () => ({ generateRootKey: false }),
    // Local mode's first start creates the root account and shows its new admin key once, on the banner.
    local: () => ({ generateRootKey: true }),
  },
  modules: (config, adapters) => [
    SpacesModule.forRoot({
      databaseUrl: config.databaseUrl as string,
      root: { bootstrapApiKey: config.bootstrapApiKey, generateKey: adapters.generateRootKey },
    }),
  ],
});

import { Logger } from '@nestjs/common';
import { defineService } from '@bctrl/service';
import { ensureLocalVaultKeys, parseVaultKeys } from '@bctrl/vault';
import { SpacesModule } from './spaces.module';
import { spacesSettings } from './spaces.settings';

interface SpacesAdapters {
  generateRootKey: boolean;
  vaultKeys: string;
  /** Local mode's first start: where it just created the vault key. */
  createdVaultKeyFile?: string;
}

/** The spaces service, for its own app and for local mode. */
export const spacesService = defineService({
  name: 'spaces',
  settings: spacesSettings,
  ownsTables: true,
  adapters: {
    // A root account only from a configured key: a generated one would have to be shown in a log line. The vault's
    // keys only from BCTRL_VAULT_KEYS (a Kubernetes Secret), which distributed mode requires.
    distributed: (config): SpacesAdapters => ({ generateRootKey: false, vaultKeys: config.vaultKeys as string }),
    // Local mode's first start creates the root account and shows its new admin key once, on the banner; and,
    // unless BCTRL_VAULT_KEYS is set, a vault key in the data dir, said once.
    local: (config, context): SpacesAdapters => {
      if (config.vaultKeys) return { generateRootKey: true, vaultKeys: config.vaultKeys };
      const local = ensureLocalVaultKeys(context.dataDir);
      return {
        generateRootKey: true,
        vaultKeys: local.keys,
        createdVaultKeyFile: local.created ? local.file : undefined,
      };
    },
  },
  modules: (config, adapters) => [
    SpacesModule.forRoot({
      databaseUrl: config.databaseUrl as string,
      root: { bootstrapApiKey: config.bootstrapApiKey, generateKey: adapters.generateRootKey },
      vault: parseVaultKeys(adapters.vaultKeys),
    }),
  ],
  // Said once, when the platform's logger writes (not before the app exists, in another format).
  started: (_app, adapters) => {
    if (adapters.createdVaultKeyFile) {
      new Logger('vault').warn(
        `created the vault key in ${adapters.createdVaultKeyFile}: back it up with the data dir; without it no secret can be read`,
      );
    }
    return Promise.resolve();
  },
});

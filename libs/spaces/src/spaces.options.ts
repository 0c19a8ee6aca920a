import type { Keyring } from '@bctrl/vault';

export interface SpacesModuleOptions {
  databaseUrl: string;
  /** The vault's key-encryption keys (BCTRL_VAULT_KEYS, or local mode's key file). */
  vault: Keyring;
  /** How the service makes sure at boot, before it serves, that the root account exists. */
  root: {
    /**
     * The root account holds this admin key (distributed mode's bootstrap: the key comes from a Kubernetes Secret,
     * never from a log line; local mode's when BCTRL_BOOTSTRAP_API_KEY is set).
     */
    bootstrapApiKey?: string;
    /** Without a bootstrap key, create the root account with a generated key, shown once (local mode's first start). */
    generateKey: boolean;
  };
}

export const SPACES_OPTIONS = Symbol.for('bctrl.spaces.options');

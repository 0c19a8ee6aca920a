import { pickSettings, platformSettings } from '@bctrl/config';

/**
 * The spaces service's own settings (beside every service process's): its database, the first admin key, and the
 * vault's keys.
 */
export const spacesSettings = pickSettings(platformSettings, 'databaseUrl', 'bootstrapApiKey', 'vaultKeys');

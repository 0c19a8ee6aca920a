import { pickSettings, platformSettings } from '@bctrl/config';

/** The spaces service's own settings (beside every service process's): its database and the first admin key. */
export const spacesSettings = pickSettings(platformSettings, 'databaseUrl', 'bootstrapApiKey');

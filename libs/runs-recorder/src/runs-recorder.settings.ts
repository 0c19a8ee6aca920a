import { pickSettings, platformSettings } from '@bctrl/config';

/** runs-recorder's own settings (beside every service process's): its database. */
export const runsRecorderSettings = pickSettings(platformSettings, 'databaseUrl');

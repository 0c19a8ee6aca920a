import { pickSettings, platformSettings } from '@bctrl/config';

/** storage's own settings (beside every service process's): its database, the object store, its data plane. */
export const storageSettings = pickSettings(
  platformSettings,
  'databaseUrl',
  'objectStore',
  's3Endpoint',
  's3Region',
  's3Bucket',
  's3AccessKeyId',
  's3SecretAccessKey',
  's3ForcePathStyle',
  'storageFsRoot',
  'storageMaxObjectBytes',
  'storagePort',
);

import type { PlatformConfig } from '@bctrl/config';
import { FsObjectStore } from './object-store/fs-object-store';
import type { ObjectStore } from './object-store/object-store';
import { S3ObjectStore } from './object-store/s3-object-store';

/** The object store the settings name: `fs` under BCTRL_STORAGE_FS_ROOT, or the S3 bucket. */
export function createObjectStore(
  config: Pick<
    PlatformConfig,
    | 'objectStore'
    | 'storageFsRoot'
    | 's3Bucket'
    | 's3Region'
    | 's3Endpoint'
    | 's3ForcePathStyle'
    | 's3AccessKeyId'
    | 's3SecretAccessKey'
  >,
): ObjectStore {
  if (config.objectStore === 'fs') return new FsObjectStore(config.storageFsRoot);
  return new S3ObjectStore({
    bucket: config.s3Bucket as string,
    region: config.s3Region as string,
    endpoint: config.s3Endpoint,
    forcePathStyle: config.s3ForcePathStyle,
    accessKeyId: config.s3AccessKeyId as string,
    secretAccessKey: config.s3SecretAccessKey as string,
  });
}

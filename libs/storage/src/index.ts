export { StorageModule, STORAGE_DATA_PLANE_SERVICE } from './storage.module';
export type { StorageOptions } from './storage.options';
export { createObjectStore } from './create-object-store';
export type * from './object-store/object-store';
export { FsObjectStore } from './object-store/fs-object-store';
export { S3ObjectStore } from './object-store/s3-object-store';
export type { S3ObjectStoreOptions } from './object-store/s3-object-store';
export { StorageDataPlaneServer } from './data-plane/data-plane.server';
export type * from './data-plane/data-plane';

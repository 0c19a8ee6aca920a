import { type RunningS3, startS3 } from '@bctrl/testing';
import { describeObjectStoreConformance } from './object-store.conformance';
import { S3ObjectStore } from './s3-object-store';

describe('S3ObjectStore against a real S3-compatible server (s3rver)', () => {
  describeObjectStoreConformance(async () => {
    const s3: RunningS3 = await startS3();
    const store = new S3ObjectStore({
      bucket: s3.bucket,
      region: s3.region,
      endpoint: s3.url,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      // Small parts so the large-body case is a real multipart upload of several parts.
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    return {
      store,
      close: async () => {
        store.close();
        await s3.stop();
      },
    };
  });
});

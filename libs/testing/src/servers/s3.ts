import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, RunningServer, spawnServer, stopProcess } from './process';

/** An S3-compatible server and what a client needs to reach its one bucket. */
export interface RunningS3 extends RunningServer {
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The settings a BCTRL service needs to use it, as environment variables. */
  env: Record<string, string>;
}

/**
 * s3rver (the S3-compatible server FEASIBILITY.md found to work with @aws-sdk/client-s3 here) on a free port,
 * with one bucket made at start and its data in a temp dir removed on stop. It runs as a child process like the
 * other servers, so a test that streams gigabytes through it measures our process, not s3rver's.
 */
export async function startS3(bucket = 'bctrl-test'): Promise<RunningS3> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'bctrl-s3-'));
  const child = await spawnServer(
    's3rver',
    process.execPath,
    [
      require.resolve('s3rver/bin/s3rver.js'),
      '-d',
      dataDir,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '--silent',
      '--configure-bucket',
      bucket,
    ],
    /S3rver listening/,
  );
  const url = `http://127.0.0.1:${port}`;
  // s3rver's fixed credentials: it does not check signatures, but the SDK needs some to sign with.
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  return {
    url,
    bucket,
    region: 'us-east-1',
    ...credentials,
    env: {
      BCTRL_OBJECT_STORE: 's3',
      S3_ENDPOINT: url,
      S3_REGION: 'us-east-1',
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    },
    stop: async () => {
      await stopProcess(child);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

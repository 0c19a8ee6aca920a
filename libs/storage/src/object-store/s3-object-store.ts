import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { meter } from './metered';
import {
  type GetOptions,
  InvalidKeyError,
  type ListOptions,
  type ObjectHead,
  type ObjectList,
  type ObjectRead,
  type ObjectStore,
  type PresignOptions,
  type PutOptions,
  type PutResult,
  RangeNotSatisfiableError,
} from './object-store';

export interface S3ObjectStoreOptions {
  bucket: string;
  region: string;
  /** Unset for AWS itself; MinIO, R2, s3rver … otherwise. */
  endpoint?: string;
  forcePathStyle?: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Multipart part size and parts in flight: an upload holds about partSize × (queueSize + 1) bytes, however large
   * the object. Defaults 5 MiB (S3's minimum) × 2, so about 15 MiB per upload; a part grows only as far as S3's
   * 10,000-part limit needs for the largest object allowed.
   */
  partSize?: number;
  queueSize?: number;
}

const MIB = 1024 * 1024;
/** S3's smallest part but the last. */
const MIN_PART = 5 * MIB;
/** S3's most parts in one upload. */
const MAX_PARTS = 10_000;

/** Distributed mode's object store: any S3-compatible service, one bucket. */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.partSize = Math.max(options.partSize ?? MIN_PART, MIN_PART);
    this.queueSize = Math.max(options.queueSize ?? 2, 1);
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // Otherwise a streamed upload is sent with aws-chunked framing, which stores like s3rver keep inside the object.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
    });
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    checkKey(key);
    // A source that fails aborts the upload; an upload that fails stops reading the source.
    const { metered, detach } = meter(body, options.maxBytes);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: metered,
        ContentType: options.contentType || 'application/octet-stream',
      },
      partSize: Math.max(this.partSize, Math.ceil((options.maxBytes ?? 0) / MAX_PARTS)),
      queueSize: this.queueSize,
      // A failed multipart upload is aborted, so no orphaned parts are left behind to pay for.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      detach();
      metered.destroy();
      // The stream's own error (too large, client gone) says more than the SDK's wrapper of it.
      throw metered.errored ?? error;
    }
    if (metered.errored) throw metered.errored;
    return metered.result();
  }

  async get(key: string, options: GetOptions = {}): Promise<ObjectRead | null> {
    checkKey(key);
    const range = options.range ?? null;
    try {
      const answer = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      const total = answer.ContentRange ? Number(/\/(\d+)$/.exec(answer.ContentRange)?.[1]) : answer.ContentLength;
      const size = Number(total ?? 0);
      if (range && (range.end >= size || range.start > range.end)) {
        (answer.Body as Readable | undefined)?.destroy();
        throw new RangeNotSatisfiableError(size);
      }
      return { body: answer.Body as Readable, size, range };
    } catch (error) {
      if (isS3Error(error, 'NoSuchKey', 404)) return null;
      if (isS3Error(error, 'InvalidRange', 416)) {
        const head = await this.head(key);
        throw new RangeNotSatisfiableError(head?.size ?? 0);
      }
      throw error;
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    checkKey(key);
    try {
      const answer = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: Number(answer.ContentLength ?? 0) };
    } catch (error) {
      if (isS3Error(error, 'NotFound', 404) || isS3Error(error, 'NoSuchKey', 404)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectList> {
    const limit = Math.min(options.limit ?? 1000, 1000);
    // Always a full page of 1000, cut here: s3rver fails a truncated listing with a smaller MaxKeys, and sorts
    // `a/b` before `a`; real S3 is unaffected by either.
    const answer = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        MaxKeys: 1000,
        ...(options.startAfter ? { StartAfter: options.startAfter } : {}),
      }),
    );
    const all = (answer.Contents ?? [])
      .map((item) => ({ key: item.Key ?? '', size: Number(item.Size ?? 0) }))
      .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    const objects = all.slice(0, limit);
    const more = all.length > limit || !!answer.IsTruncated;
    return { objects, nextStartAfter: more ? (objects[objects.length - 1]?.key ?? null) : null };
  }

  async presignGet(key: string, options: PresignOptions): Promise<string | null> {
    checkKey(key);
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(options.fileName ? { ResponseContentDisposition: attachment(options.fileName) } : {}),
        ...(options.contentType ? { ResponseContentType: options.contentType } : {}),
      }),
      { expiresIn: options.ttlSeconds },
    );
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  close(): void {
    this.client.destroy();
  }
}

function checkKey(key: string): void {
  if (!key || key.startsWith('/') || key.split('/').some((part) => !part || part === '.' || part === '..')) {
    throw new InvalidKeyError(key);
  }
}

function isS3Error(error: unknown, name: string, status: number): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === name || error.$metadata?.httpStatusCode === status;
}

/** RFC 6266: an ASCII fallback and the UTF-8 name, so any file name survives. */
export function attachment(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

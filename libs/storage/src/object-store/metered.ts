import { createHash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { ObjectTooLargeError } from './object-store';

/**
 * Passes bytes through unchanged while counting and hashing them, and fails the stream the moment it has seen more
 * than `maxBytes`: the upload behind it is aborted with only one chunk past the limit ever read.
 */
export class MeteredStream extends Transform {
  private readonly hash = createHash('sha256');
  private count = 0;

  constructor(private readonly maxBytes = Number.POSITIVE_INFINITY) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.maxBytes) return callback(new ObjectTooLargeError(this.maxBytes));
    this.hash.update(chunk);
    callback(null, chunk);
  }

  /** Valid once the stream has ended. */
  result(): { size: number; sha256: string } {
    return { size: this.count, sha256: this.hash.digest('hex') };
  }
}

/**
 * Feeds `body` through a MeteredStream without handing `body` to a pipeline: a pipeline destroys its source on
 * error, and destroying an HTTP request kills the socket the caller still needs to answer 413 on. `detach` stops
 * reading from `body` and leaves it to its owner.
 */
export function meter(body: Readable, maxBytes?: number): { metered: MeteredStream; detach: () => void } {
  const metered = new MeteredStream(maxBytes);
  const onError = (error: Error) => metered.destroy(error);
  body.once('error', onError);
  // A client that goes away mid-upload must not leave a truncated object behind as if it were whole.
  const onAborted = () => metered.destroy(new Error('the upload was interrupted'));
  body.once('aborted', onAborted);
  body.pipe(metered);
  return {
    metered,
    detach: () => {
      body.unpipe(metered);
      body.removeListener('error', onError);
      body.removeListener('aborted', onAborted);
      body.pause();
    },
  };
}

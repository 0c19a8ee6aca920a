import type { BatchLimits } from './wire';

const TIMED_OUT = Symbol('timed out');

/**
 * Groups what an async iterator yields into batches. A batch starts with the next item, whenever that
 * comes, and takes what follows within `maxWaitMs` of it, up to `maxBatch` items: a lone item waits at most
 * `maxWaitMs`, a flood goes in full batches. Items already buffered are taken even when `maxWaitMs` is 0.
 */
export class BatchReader<T> {
  /** A `next()` still unanswered when a batch's wait ran out: its item opens the following batch. */
  private pending: Promise<IteratorResult<T>> | undefined;
  private ended = false;

  constructor(
    private readonly source: AsyncIterator<T>,
    private readonly limits: BatchLimits,
  ) {}

  /** The next batch, or undefined once the source has ended. */
  async next(): Promise<T[] | undefined> {
    if (this.ended) return undefined;
    const first = await this.take();
    if (first.done) {
      this.ended = true;
      return undefined;
    }
    const batch = [first.value];
    if (batch.length >= this.limits.maxBatch) return batch;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), this.limits.maxWaitMs);
    });
    try {
      while (batch.length < this.limits.maxBatch) {
        this.pending ??= this.source.next();
        const result = await Promise.race([this.pending, timedOut]);
        if (result === TIMED_OUT) break;
        this.pending = undefined;
        if (result.done) {
          this.ended = true;
          break;
        }
        batch.push(result.value);
      }
    } finally {
      clearTimeout(timer);
    }
    return batch;
  }

  private async take(): Promise<IteratorResult<T>> {
    this.pending ??= this.source.next();
    const result = await this.pending;
    this.pending = undefined;
    return result;
  }
}

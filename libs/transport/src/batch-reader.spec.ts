import { BatchReader } from './batch-reader';

/** An async iterator fed by hand, like the message iterator of a pull consumer. */
function channel<T>() {
  const buffered: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | undefined;
  let ended = false;
  const iterator: AsyncIterator<T> = {
    next: () => {
      if (buffered.length > 0) return Promise.resolve({ done: false, value: buffered.shift() as T });
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
  };
  return {
    iterator,
    push(...items: T[]) {
      for (const item of items) {
        const resolve = waiting;
        waiting = undefined;
        if (resolve) resolve({ done: false, value: item });
        else buffered.push(item);
      }
    },
    end() {
      ended = true;
      const resolve = waiting;
      waiting = undefined;
      resolve?.({ done: true, value: undefined });
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('BatchReader', () => {
  it('takes what is already buffered, up to maxBatch, even with no wait', async () => {
    const source = channel<number>();
    source.push(1, 2, 3, 4, 5);
    const reader = new BatchReader(source.iterator, { maxBatch: 3, maxWaitMs: 0 });

    expect(await reader.next()).toEqual([1, 2, 3]);
    expect(await reader.next()).toEqual([4, 5]);
  });

  it('waits for a first item as long as it takes, then at most maxWaitMs for more', async () => {
    const source = channel<number>();
    const reader = new BatchReader(source.iterator, { maxBatch: 10, maxWaitMs: 300 });

    const batch = reader.next();
    await sleep(100);
    source.push(1);
    await sleep(150);
    source.push(2);
    const secondPushedAt = Date.now();

    expect(await batch).toEqual([1, 2]);
    // Counted from the first item, not restarted by the second.
    expect(Date.now() - secondPushedAt).toBeLessThan(300);
  });

  it('keeps an item that arrives after the wait ran out for the next batch', async () => {
    const source = channel<number>();
    const reader = new BatchReader(source.iterator, { maxBatch: 10, maxWaitMs: 20 });

    source.push(1);
    expect(await reader.next()).toEqual([1]);
    await sleep(50);
    source.push(2, 3);

    expect(await reader.next()).toEqual([2, 3]);
  });

  it('hands over the last partial batch at once when the source ends, then nothing', async () => {
    const source = channel<number>();
    const reader = new BatchReader(source.iterator, { maxBatch: 10, maxWaitMs: 5_000 });

    source.push(1);
    const batch = reader.next();
    await sleep(10);
    source.end();

    expect(await batch).toEqual([1]);
    expect(await reader.next()).toBeUndefined();
  });
});

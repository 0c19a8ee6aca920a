import { IDEMPOTENCY_TTL_SECONDS, InMemoryIdempotencyStore } from './idempotency.store';
import { describeIdempotencyStoreSemantics } from './idempotency-store.conformance';

describeIdempotencyStoreSemantics('in-memory', () => new InMemoryIdempotencyStore());

describe('InMemoryIdempotencyStore expiry', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('forgets a completed key after 24 hours, and not before', async () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    const store = new InMemoryIdempotencyStore();
    await store.begin('k', 'fp');
    await store.complete('k', 'fp', { status: 201, body: {} });
    expect(IDEMPOTENCY_TTL_SECONDS).toBe(24 * 60 * 60);
    jest.setSystemTime(Date.now() + IDEMPOTENCY_TTL_SECONDS * 1000 - 1000);
    expect((await store.begin('k', 'fp')).state).toBe('replay');
    jest.setSystemTime(Date.now() + 2000);
    expect(await store.begin('k', 'other')).toEqual({ state: 'new' });
  });

  it('forgets everything on close', async () => {
    const store = new InMemoryIdempotencyStore();
    await store.begin('k', 'fp');
    await store.close();
    expect(await store.begin('k', 'fp')).toEqual({ state: 'new' });
  });
});

import { randomUUID } from 'node:crypto';
import type { IdempotencyStore } from './idempotency.store';

/**
 * What the idempotency interceptor relies on from any store. The in-memory store (local mode) and the
 * Redis store (distributed mode) both run this suite, so a behaviour only one has is a bug in the other.
 */
export function describeIdempotencyStoreSemantics(
  name: string,
  open: () => IdempotencyStore | Promise<IdempotencyStore>,
) {
  describe(`${name} idempotency store semantics`, () => {
    let store: IdempotencyStore;
    // Stores may be shared between tests (one Redis): every test uses keys no other test uses.
    const key = () => `key-${randomUUID()}`;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    it('claims an unseen key as new', async () => {
      expect(await store.begin(key(), 'fp-a')).toEqual({ state: 'new' });
    });

    it('reports in_flight for the same key and fingerprint while the first request runs', async () => {
      const k = key();
      await store.begin(k, 'fp-a');
      expect(await store.begin(k, 'fp-a')).toEqual({ state: 'in_flight' });
    });

    it('replays the stored response after complete, as often as asked', async () => {
      const k = key();
      await store.begin(k, 'fp-a');
      const response = { status: 201, body: { id: 'spc_1', metadata: { entries: { a: 'b' } } } };
      await store.complete(k, 'fp-a', response);
      expect(await store.begin(k, 'fp-a')).toEqual({ state: 'replay', response });
      expect(await store.begin(k, 'fp-a')).toEqual({ state: 'replay', response });
    });

    it('reports mismatch for another fingerprint, whether the first request runs or has completed', async () => {
      const k = key();
      await store.begin(k, 'fp-a');
      expect(await store.begin(k, 'fp-b')).toEqual({ state: 'mismatch' });
      await store.complete(k, 'fp-a', { status: 200, body: null });
      expect(await store.begin(k, 'fp-b')).toEqual({ state: 'mismatch' });
      // The mismatching attempt must not have replaced the original entry.
      expect(await store.begin(k, 'fp-a')).toEqual({ state: 'replay', response: { status: 200, body: null } });
    });

    it('frees the key on abandon, so a retry (even with another body) is new', async () => {
      const k = key();
      await store.begin(k, 'fp-a');
      await store.abandon(k);
      expect(await store.begin(k, 'fp-b')).toEqual({ state: 'new' });
      expect(await store.begin(k, 'fp-b')).toEqual({ state: 'in_flight' });
    });

    it('keeps keys apart from each other', async () => {
      const [k1, k2] = [key(), key()];
      await store.begin(k1, 'fp-a');
      await store.complete(k1, 'fp-a', { status: 201, body: { n: 1 } });
      expect(await store.begin(k2, 'fp-a')).toEqual({ state: 'new' });
      await store.abandon(k2);
      expect(await store.begin(k1, 'fp-a')).toEqual({ state: 'replay', response: { status: 201, body: { n: 1 } } });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

import { randomBytes } from 'node:crypto';
import { newId } from '@bctrl/core';
import { type ConnectionEnded, type ConnectionLease, connectionStatus, type LeaseStore } from './lease-store';

/**
 * What cdp-proxy relies on from any lease store. The in-memory store (local mode) and the Redis store
 * (distributed mode) both run this suite, so a behaviour only one has is a bug in the other.
 */
/** A live cdp lease of a runtime of its own, expiring in a minute: what the suites store, with any field changed. */
export function sampleLease(overrides: Partial<ConnectionLease> = {}): ConnectionLease {
  return {
    id: newId('connection'),
    token: randomBytes(32).toString('base64url'),
    type: 'cdp',
    runtimeId: newId('runtime'),
    spaceId: newId('space'),
    accountId: 'acct_1',
    subaccountId: null,
    runId: newId('run'),
    cdpUrl: 'ws://127.0.0.1:9222/devtools/browser/x',
    createdAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    endedAt: null,
    endReason: null,
    ...overrides,
  };
}

export function describeLeaseStoreSemantics(name: string, open: () => LeaseStore | Promise<LeaseStore>) {
  describe(`${name} lease store semantics`, () => {
    let store: LeaseStore;
    const lease = sampleLease;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    it('finds a live lease by its token and by its id, and nothing for an unknown token', async () => {
      const a = lease();
      await store.put(a);
      expect(await store.byToken(a.token)).toEqual(a);
      expect(await store.get(a.id)).toEqual(a);
      expect(await store.byToken(randomBytes(32).toString('base64url'))).toBeNull();
      expect(await store.get(newId('connection'))).toBeNull();
    });

    it('refuses an expired token but keeps the record, which reads as expired', async () => {
      const a = lease({ expiresAt: Date.now() + 300 });
      await store.put(a);
      expect(await store.byToken(a.token)).not.toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await store.byToken(a.token)).toBeNull();
      const record = await store.get(a.id);
      expect(record && connectionStatus(record)).toBe('expired');
      // An expired lease cannot be revoked any more: it already ended.
      expect(await store.end(a.id, 'revoked')).toBeNull();
    });

    it('ends a lease once: the token stops working, the record says why, a second end does nothing', async () => {
      const a = lease();
      await store.put(a);
      const ended = await store.end(a.id, 'revoked');
      expect(ended).toMatchObject({ id: a.id, endReason: 'revoked' });
      expect(ended?.endedAt).toEqual(expect.any(Number));
      expect(await store.byToken(a.token)).toBeNull();
      const record = await store.get(a.id);
      expect(record && connectionStatus(record)).toBe('revoked');
      expect(await store.end(a.id, 'revoked')).toBeNull();
      expect(await store.end(newId('connection'), 'revoked')).toBeNull();
    });

    it('tells every subscriber of every store instance about an end, once', async () => {
      const other = await open();
      try {
        const seen: ConnectionEnded[] = [];
        const seenElsewhere: ConnectionEnded[] = [];
        const a = lease();
        // Stores may be shared between tests (one Redis, one local process): only this lease's ends count.
        await store.subscribe((ended) => ended.connectionId === a.id && seen.push(ended));
        await other.subscribe((ended) => ended.connectionId === a.id && seenElsewhere.push(ended));
        await store.put(a);
        await other.end(a.id, 'revoked');
        await other.end(a.id, 'revoked');
        const expected = { connectionId: a.id, runtimeId: a.runtimeId, reason: 'revoked' };
        for (let i = 0; i < 100 && (seen.length === 0 || seenElsewhere.length === 0); i++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(seen).toEqual([expected]);
        expect(seenElsewhere).toEqual([expected]);
      } finally {
        await other.close();
      }
    });

    it("lists a runtime's connections newest first and ends only that runtime's live ones", async () => {
      const runtimeId = newId('runtime');
      const now = Date.now();
      const older = lease({ runtimeId, createdAt: now - 2_000 });
      const newer = lease({ runtimeId, createdAt: now - 1_000 });
      const gone = lease({ runtimeId, createdAt: now - 3_000, expiresAt: now - 10 });
      const elsewhere = lease();
      for (const each of [older, newer, gone, elsewhere]) await store.put(each);
      expect((await store.listByRuntime(runtimeId)).map((each) => each.id)).toEqual([newer.id, older.id, gone.id]);

      const ended = await store.endRuntime(runtimeId, 'runtime_stopped');
      expect(ended.map((each) => each.id).sort()).toEqual([newer.id, older.id].sort());
      expect(await store.byToken(newer.token)).toBeNull();
      expect(await store.byToken(elsewhere.token)).not.toBeNull();
      const record = await store.get(older.id);
      expect(record && connectionStatus(record)).toBe('closed');
    });
  });
}

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runsV1 } from '@bctrl/contracts';
import { InProcessTransport } from '@bctrl/transport';
import { ConnectionEvents, socketJournalOf } from '../cdp/connection-events';
import { FileLeaseStore } from './file-lease-store';
import { connectionStatus } from './lease-store';
import { describeLeaseStoreSemantics, sampleLease } from './lease-store.conformance';

const dir = mkdtempSync(join(tmpdir(), 'bctrl-file-leases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// One process shares one store in local mode, as in the in-memory store's run of the suite.
const shared = new FileLeaseStore(join(dir, 'conformance', 'connections.json'));
describeLeaseStoreSemantics('File-backed', () => ({
  put: shared.put.bind(shared),
  byToken: shared.byToken.bind(shared),
  get: shared.get.bind(shared),
  listByRuntime: shared.listByRuntime.bind(shared),
  end: shared.end.bind(shared),
  endRuntime: shared.endRuntime.bind(shared),
  subscribe: shared.subscribe.bind(shared),
  close: () => Promise.resolve(),
}));

const lease = sampleLease;

/** Lets the store's coalesced write happen, as it would before a crash a moment later. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Every connection.closed published on a run, as runs-recorder would receive it. */
async function closedEventsOn(transport: InProcessTransport) {
  const seen: { runId: string; data: Record<string, unknown> }[] = [];
  await transport.consume(
    {
      durable: `spec-${randomBytes(4).toString('hex')}`,
      filterSubject: 'runs.*.events',
      payload: runsV1.RunEventSchema,
    },
    (event) => {
      if (event.type === 'connection.closed') seen.push({ runId: event.runId, data: JSON.parse(event.dataJson) });
    },
  );
  return seen;
}

describe('FileLeaseStore across a crash', () => {
  it('ends the connections a dead process left live with platform_restarted, and keeps the others as they were', async () => {
    const file = join(dir, 'restart', 'connections.json');
    const before = new FileLeaseStore(file);
    const live = lease();
    const revoked = lease();
    const webdriver = lease({ type: 'webdriver', webdriver: { url: 'http://127.0.0.1:1/wd', token: 'relay-token' } });
    for (const each of [live, revoked, webdriver]) await before.put(each);
    await before.end(revoked.id, 'revoked');
    await settle();
    // The crash: nothing closes `before`, a new process reads the file.

    const after = new FileLeaseStore(file);
    const record = await after.get(live.id);
    expect(record).toMatchObject({ endReason: 'platform_restarted', endedAt: expect.any(Number) });
    expect(record && connectionStatus(record)).toBe('closed');
    expect(await after.byToken(live.token)).toBeNull();
    expect(await after.get(revoked.id)).toMatchObject({ endReason: 'revoked' });
    expect(await after.get(webdriver.id)).toMatchObject({
      webdriver: webdriver.webdriver,
      endReason: 'platform_restarted',
    });
    expect(after.endedByRestart.map((each) => each.id).sort()).toEqual([live.id, webdriver.id].sort());
    expect(await after.listByRuntime(live.runtimeId)).toEqual([expect.objectContaining({ id: live.id })]);

    // A lease made after the restart works, and survives the next one as records do.
    const fresh = lease();
    await after.put(fresh);
    expect(await after.byToken(fresh.token)).toEqual(fresh);
    await after.close();
    const third = new FileLeaseStore(file);
    expect(await third.get(fresh.id)).toMatchObject({ endReason: 'platform_restarted' });
    expect(await third.get(live.id)).toMatchObject({ endReason: 'platform_restarted', endedAt: record?.endedAt });
    expect(third.endedByRestart.map((each) => each.id)).toEqual([fresh.id]);
  });

  it('reports each socket open at the crash as connection.closed on its run, once', async () => {
    const file = join(dir, 'sockets', 'connections.json');
    const transport = new InProcessTransport();
    const closed = await closedEventsOn(transport);
    const before = new FileLeaseStore(file);
    // The journal is fed by the connection events cdp-proxy publishes, through the same path as in local mode.
    const events = new ConnectionEvents(transport, socketJournalOf(before));
    const a = lease();
    const b = lease();
    for (const each of [a, b]) await before.put(each);
    await events.publish(a, 'connection.opened', { connectionId: a.id, socketId: 'sock-1', target: 'browser' });
    await events.publish(a, 'connection.opened', { connectionId: a.id, socketId: 'sock-2', target: 'browser' });
    await events.publish(a, 'connection.closed', { connectionId: a.id, socketId: 'sock-2', closedBy: 'client' });
    await events.publish(b, 'connection.opened', {
      connectionId: b.id,
      webdriverSessionId: 'wd-1',
      target: 'webdriver',
    });
    await settle();
    closed.length = 0;

    const after = new FileLeaseStore(file);
    await after.announceRestart(transport);
    await settle();
    expect(closed).toEqual(
      expect.arrayContaining([
        {
          runId: a.runId,
          data: {
            connectionId: a.id,
            socketId: 'sock-1',
            closedBy: 'platform',
            code: null,
            reason: 'platform_restarted',
          },
        },
        {
          runId: b.runId,
          data: {
            connectionId: b.id,
            webdriverSessionId: 'wd-1',
            closedBy: 'platform',
            code: null,
            reason: 'platform_restarted',
          },
        },
      ]),
    );
    expect(closed).toHaveLength(2);
    await after.close();

    // Reported once: the start after that one has nothing left to report.
    closed.length = 0;
    const third = new FileLeaseStore(file);
    await third.announceRestart(transport);
    await settle();
    expect(closed).toEqual([]);
    await third.close();
    await transport.close();
  });

  it('writes the file for its owner only, through a rename, and sets an unreadable one aside', async () => {
    const folder = join(dir, 'mode');
    const file = join(folder, 'connections.json');
    const store = new FileLeaseStore(file);
    await store.put(lease());
    await store.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(folder)).toEqual(['connections.json']);

    writeFileSync(file, '{"leases": [', { mode: 0o600 });
    const recovered = new FileLeaseStore(file);
    expect(recovered.endedByRestart).toEqual([]);
    expect(readdirSync(folder).some((name) => name.startsWith('connections.json.unreadable-'))).toBe(true);
    expect(existsSync(file)).toBe(true);
    await recovered.close();
  });
});

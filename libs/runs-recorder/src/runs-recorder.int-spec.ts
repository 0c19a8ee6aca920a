import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RunEvent } from '@bctrl/contracts';
import { migrateService } from '@bctrl/db';
import { PlatformModule, publishRunEvent } from '@bctrl/service';
import { captureMetrics, type MetricsCapture } from '@bctrl/telemetry/testing';
import { createTestDatabase, waitFor, withPgClient } from '@bctrl/testing';
import { InProcessTransport } from '@bctrl/transport';
import { RunsRecorderModule } from './runs-recorder.module';

jest.setTimeout(60_000);

/** The recorder's consumers on real Postgres and the in-process transport, as local mode runs them. */
describe('runs-recorder metrics', () => {
  let metrics: MetricsCapture;
  let app: INestApplicationContext;
  let transport: InProcessTransport;
  let databaseUrl: string;

  beforeAll(async () => {
    metrics = captureMetrics('runs-recorder');
    databaseUrl = await createTestDatabase(process.env.BCTRL_TEST_DATABASE_URL as string, 'recorder_spec');
    await migrateService(databaseUrl, 'runs-recorder', { workspaceRoot: join(__dirname, '../../..') });
    transport = new InProcessTransport();
    const moduleRef = await Test.createTestingModule({
      imports: [
        PlatformModule.forRoot({ services: ['runs-recorder'], transport }),
        RunsRecorderModule.forRoot({ databaseUrl }),
      ],
    }).compile();
    app = await moduleRef.init();
  });

  afterAll(async () => {
    await app?.close();
    await metrics.stop();
  });

  it('records bctrl.events.lag for each stored event, in seconds from the stream publish', async () => {
    const source = {
      runId: 'run_lagged',
      runtimeId: 'runtime_lagged',
      spaceId: 'space_lagged',
      accountId: 'acct_lagged',
      subaccountId: null,
    };
    // An event relayed from a browser keeps its own, much older time: the lag is measured from the publish.
    const longAgo = new Date(Date.now() - 3_600_000).toISOString();
    await publishRunEvent(transport, source, RunEvent.runtimeStarting, { driver: 'local-process' }, { at: longAgo });
    await publishRunEvent(transport, source, RunEvent.runtimeReady, { warm: false, startMs: 5 });

    const [lag] = await waitFor('two events in the lag histogram', async () => {
      const points = await metrics.points('bctrl.events.lag');
      return (points[0]?.count ?? 0) >= 2 ? points : undefined;
    });
    expect(lag?.attributes).toEqual({});
    expect(lag?.count).toBe(2);
    expect(lag?.sum).toBeLessThan(10);
    const stored = await withPgClient(databaseUrl, async (client) =>
      Number(
        (await client.query(`SELECT count(*) AS n FROM runs_recorder.run_events WHERE run_id = 'run_lagged'`)).rows[0]
          .n,
      ),
    );
    expect(stored).toBe(2);
  });
});

import { join } from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RequestInitOf, ResponseOf, RpcMethod, runsV1, SpacesV1 } from '@bctrl/contracts';
import { hashApiKey, KeyPrincipal, Principal, Role } from '@bctrl/core';
import { migrateService } from '@bctrl/db';
import { PlatformModule } from '@bctrl/service';
// The orchestrator asks spaces whether a space exists and is visible; a spec composes both services exactly as
// local mode does (libs/local/src/local.ts) rather than faking the spaces side of the contract.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { SpacesModule } from '@bctrl/spaces';
import { createTestDatabase, waitFor as pollFor, withPgClient } from '@bctrl/testing';
import { InProcessTransport } from '@bctrl/transport';
import { newVaultKey, parseVaultKeys } from '@bctrl/vault';
import type { BrowserDriver } from '../drivers/browser-driver';
import { Supervisor } from '../lifecycle/supervisor';
import { RuntimeOrchestratorModule } from '../runtime-orchestrator.module';
import { ScriptedBrowserDriver } from './scripted-browser.driver';

const OPERATOR: Principal = { kind: 'operator' };
const workspaceRoot = join(__dirname, '../../../..');

/** Polls until `probe` returns a value, so specs wait on the state they need and not on guessed delays. */
export const waitFor = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 5_000) =>
  pollFor(what, probe, timeoutMs, 20);

export const withClient = withPgClient;

/** A database of its own with both services' migrations, as deploy applies them, so specs never share rows. */
export async function freshDatabase(): Promise<string> {
  const adminUrl = process.env.BCTRL_TEST_DATABASE_URL;
  if (!adminUrl)
    throw new Error('BCTRL_TEST_DATABASE_URL is unset: run through jest, whose global setup starts Postgres');
  const url = await createTestDatabase(adminUrl, 'orchestrator_spec');
  await migrateService(url, 'spaces', { workspaceRoot });
  await migrateService(url, 'runtime-orchestrator', { workspaceRoot });
  return url;
}

export interface OrchestratorOptions<D extends BrowserDriver = ScriptedBrowserDriver> {
  databaseUrl: string;
  /** The scripted double for lifecycle races; the local-process driver where a real agent must answer. */
  driver: D;
  warmPoolSize?: number;
  replicaId?: string;
}

export interface Orchestrator<D extends BrowserDriver = ScriptedBrowserDriver> {
  app: INestApplicationContext;
  transport: InProcessTransport;
  driver: D;
  supervisor: Supervisor;
  call<M extends RpcMethod>(method: M, request: RequestInitOf<M>, principal: Principal): Promise<ResponseOf<M>>;
  /** Collects the events of one run, in stream order, from a durable consumer of `runs.<runId>.>`. */
  events(runId: string): Promise<Array<runsV1.RunEvent>>;
  close(): Promise<void>;
}

/** runtime-orchestrator and spaces on one in-process transport, as local mode runs them, with the given driver. */
export async function startOrchestrator<D extends BrowserDriver = ScriptedBrowserDriver>(
  options: OrchestratorOptions<D>,
): Promise<Orchestrator<D>> {
  const transport = new InProcessTransport();
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.forRoot({ services: ['spaces', 'runtime-orchestrator'], transport }),
      SpacesModule.forRoot({
        databaseUrl: options.databaseUrl,
        root: { generateKey: false },
        vault: parseVaultKeys(newVaultKey('test')),
      }),
      RuntimeOrchestratorModule.forRoot({
        databaseUrl: options.databaseUrl,
        driver: options.driver,
        warmPoolSize: options.warmPoolSize ?? 0,
        defaultTimeoutSeconds: 300,
        maxTimeoutSeconds: 3_600,
        replicaId: options.replicaId ?? 'replica-1',
        // Reconcile runs at boot; specs that need another run call it, so the timer must not interleave.
        reconcileIntervalMs: 3_600_000,
        sweepIntervalMs: 3_600_000,
        waitTimeoutMs: 5_000,
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  const collected = new Map<string, runsV1.RunEvent[]>();
  return {
    app,
    transport,
    driver: options.driver,
    supervisor: moduleRef.get(Supervisor),
    call: (method, request, principal) =>
      transport.request(method as RpcMethod, request as never, { principal }) as Promise<ResponseOf<typeof method>>,
    async events(runId) {
      let events = collected.get(runId);
      if (!events) {
        const list: runsV1.RunEvent[] = [];
        events = list;
        collected.set(runId, list);
        await transport.consume(
          { durable: `spec-${runId}`, filterSubject: `runs.${runId}.>`, payload: runsV1.RunEventSchema },
          (event) => {
            list.push(event);
          },
        );
      }
      return events;
    },
    close: () => app.close(),
  };
}

export interface Tenant {
  accountId: string;
  key: KeyPrincipal;
  spaceId: string;
}

/** A new account (operator call), its admin key resolved as the gateway resolves it, and one space. */
export async function newTenant(orchestrator: Orchestrator<BrowserDriver>, name = 'tenant'): Promise<Tenant> {
  const account = await orchestrator.call(SpacesV1.createAccount, { name }, OPERATOR);
  const { principal } = await orchestrator.call(
    SpacesV1.authenticate,
    { keyHash: hashApiKey(account.adminKeySecret) },
    OPERATOR,
  );
  if (!principal) throw new Error('authenticate answered without a principal');
  const key: KeyPrincipal = {
    kind: 'key',
    accountId: principal.accountId,
    subaccountId: principal.subaccountId || null,
    spaceIds: principal.spaceIds.length > 0 ? principal.spaceIds : null,
    role: principal.role as Role,
    keyId: principal.keyId,
  };
  const space = await orchestrator.call(SpacesV1.createSpace, { name: `${name}-space` }, key);
  return { accountId: account.accountId, key, spaceId: space.id };
}

/** Another space of the same tenant. */
export async function newSpace(
  orchestrator: Orchestrator<BrowserDriver>,
  tenant: Tenant,
  name: string,
): Promise<string> {
  return (await orchestrator.call(SpacesV1.createSpace, { name }, tenant.key)).id;
}

import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import request from 'supertest';
import type { Platform } from './platform';

/** Debian's Chromium: the browser of every runtime, and of the person a test plays (a live viewer, say). */
export const CHROME = process.env['CHROME_PATH'] ?? '/usr/lib/chromium/chromium';

/** A browser of the test's own, for the pages the platform serves people (live view, recording view). */
export function launchTestBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROME, args: ['--no-sandbox', '--headless=new'] });
}

export interface DrivenRuntime {
  id: string;
  runId: string;
  /** Playwright, connected through one of the runtime's connections. */
  client: Browser;
  context: BrowserContext;
  /** The runtime's first tab. */
  page: Page;
}

/**
 * Ready runtimes with Playwright connected through a connection, as a tenant drives them; `stopAll` (afterAll)
 * closes every client and stops every runtime this made.
 */
export class DrivenRuntimes {
  private readonly runtimes: string[] = [];
  private readonly clients: Browser[] = [];

  constructor(private readonly platform: () => Platform) {}

  async start(spaceId: string, config: object = {}): Promise<DrivenRuntime> {
    const http = request(this.platform().url);
    const auth = { Authorization: `Bearer ${this.platform().adminKey}` };
    const rt = await http
      .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
      .set(auth)
      .send({ type: 'browser', timeoutSeconds: 300, ...config });
    expect(rt.body.status).toBe('ready');
    this.runtimes.push(rt.body.id);
    const connection = await request(this.platform().url)
      .post(`/v1/runtimes/${rt.body.id}/connections`)
      .set(auth)
      .send({});
    expect(connection.status).toBe(201);
    const client = await chromium.connectOverCDP(connection.body.wsUrl);
    this.clients.push(client);
    const context = client.contexts()[0] ?? (await client.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    return { id: rt.body.id as string, runId: rt.body.activeRunId as string, client, context, page };
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close().catch(() => undefined)));
    const auth = { Authorization: `Bearer ${this.platform().adminKey}` };
    await Promise.all(
      this.runtimes.map((id) => request(this.platform().url).post(`/v1/runtimes/${id}/stop`).set(auth)),
    );
  }
}

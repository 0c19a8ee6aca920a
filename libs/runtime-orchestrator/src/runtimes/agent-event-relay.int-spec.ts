import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGENT_PATHS, type AgentEvent } from '@bctrl/contracts';
import { waitFor } from '@bctrl/testing';
import { AgentEventRelay } from './agent-event-relay';
import type { RunEvents } from './run-events';
import type { RuntimeArtifacts } from './runtime-artifacts';
import type { RuntimeRow } from './runtimes.repository';

/** An agent that has these events to give, then none: the relay's long poll against a real HTTP server. */
async function agentWith(events: AgentEvent[]): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (url.pathname !== AGENT_PATHS.events) return void res.writeHead(404).end();
    const after = Number(url.searchParams.get('after') ?? 0);
    const fresh = events.filter((event) => event.seq > after);
    const answer = () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ events: fresh }));
    if (fresh.length > 0) answer();
    else setTimeout(answer, 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('AgentEventRelay', () => {
  it('relays the browser events an agent may report and drops any other type it claims (an agent cannot end a run)', async () => {
    const at = new Date().toISOString();
    const agent = await agentWith([
      { seq: 1, type: 'page.created', at, data: { targetId: 'T1', url: 'about:blank' } },
      { seq: 2, type: 'runtime.stopped', at, data: { stopReason: 'requested' } },
      { seq: 3, type: 'artifact.created', at, data: { artifactId: 'art_forged' } },
      { seq: 4, type: 'console', at, data: { targetId: 'T1', level: 'log', text: 'hi' } },
    ]);
    const published: Array<{ type: string; eventId?: string }> = [];
    const events = {
      publish: (_row: RuntimeRow, type: string, _data: unknown, origin: { eventId?: string } = {}) => {
        published.push({ type, eventId: origin.eventId });
        return Promise.resolve();
      },
    } as unknown as RunEvents;
    const relay = new AgentEventRelay(events, {} as RuntimeArtifacts);
    const row = { id: 'rt_relay', agentUrl: agent.url, agentToken: 'token' } as RuntimeRow;
    try {
      relay.start(row);
      await waitFor(
        'the console event',
        () => (published.some((e) => e.type === 'console') ? true : undefined),
        10_000,
      );
      expect(published).toEqual([
        { type: 'page.created', eventId: 'rt_relay:1' },
        { type: 'console', eventId: 'rt_relay:4' },
      ]);
    } finally {
      relay.stop(row.id);
      await new Promise((resolve) => agent.server.close(resolve));
    }
  });
});

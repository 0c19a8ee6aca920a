import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  AGENT_PATHS,
  type AgentDownloadCompleted,
  type AgentEvent,
  isBrowserEventType,
  RunEvent,
  type RunEventData,
} from '@bctrl/contracts';
import { agentRequest } from '../drivers/agent-client';
import { RunEvents } from './run-events';
import { RuntimeArtifacts } from './runtime-artifacts';
import type { RuntimeRow } from './runtimes.repository';

const LONG_POLL_MS = 10_000;
const RETRY_MS = 1_000;

/**
 * Carries what each ready runtime's agent saw in its browser (page.created|navigated|closed, console) onto the
 * run's stream. One long-poll loop per runtime, from the agent's first event: each event's id is
 * `<runtimeId>:<agent seq>`, so a loop restarted after an orchestrator restart republishes harmlessly.
 */
@Injectable()
export class AgentEventRelay implements OnApplicationShutdown {
  private readonly logger = new Logger('AgentEventRelay');
  private readonly loops = new Map<string, AbortController>();

  constructor(
    private readonly events: RunEvents,
    private readonly artifacts: RuntimeArtifacts,
  ) {}

  isRelaying(runtimeId: string): boolean {
    return this.loops.has(runtimeId);
  }

  start(row: RuntimeRow): void {
    if (this.loops.has(row.id) || !row.agentUrl || !row.agentToken) return;
    const abort = new AbortController();
    this.loops.set(row.id, abort);
    void this.loop(row, abort.signal).finally(() => {
      if (this.loops.get(row.id) === abort) this.loops.delete(row.id);
    });
  }

  stop(runtimeId: string): void {
    this.loops.get(runtimeId)?.abort();
    this.loops.delete(runtimeId);
  }

  onApplicationShutdown(): void {
    for (const abort of this.loops.values()) abort.abort();
    this.loops.clear();
  }

  private async loop(row: RuntimeRow, signal: AbortSignal): Promise<void> {
    let after = 0;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const events = await poll(row, after, signal);
        failures = 0;
        for (const event of events) {
          // Stopped meanwhile: what the browser did while it was being shut down is not the run's any more.
          if (signal.aborted) return;
          const origin = { eventId: `${row.id}:${event.seq}`, at: event.at };
          if (!isBrowserEventType(event.type)) {
            this.logger.warn(`runtime ${row.id}: its agent reported an unknown event type; dropped`);
          } else if (event.type === RunEvent.downloadCompleted) {
            await this.events.publish(row, event.type, await this.storeDownload(row, event), origin);
          } else {
            // The agent's own payload for the type, as the catalogue describes it.
            await this.events.publish(row, event.type, event.data as RunEventData<typeof event.type>, origin);
          }
          after = event.seq;
        }
      } catch (error) {
        if (signal.aborted) return;
        // The agent is gone for good when its runtime stops; the stop ends this loop. Until then, retry.
        if (++failures % 30 === 1) this.logger.warn(`events of ${row.id}: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
      }
    }
  }

  /**
   * A finished download becomes a `download` artifact before its event is published, so the event names the
   * artifact. In the loop, so events stay in order; a download storage could not take is still reported, with why.
   */
  private async storeDownload(
    row: RuntimeRow,
    event: AgentEvent,
  ): Promise<RunEventData<typeof RunEvent.downloadCompleted>> {
    const download = event.data as unknown as AgentDownloadCompleted;
    try {
      const artifact = await this.artifacts.importDownload(row, download);
      return { ...download, artifactId: artifact.id, size: Number(artifact.size), sha256: artifact.sha256 };
    } catch (error) {
      this.logger.error(`could not store download ${download.guid} of ${row.id}: ${String(error)}`);
      return { ...download, artifactId: null, error: 'the download could not be stored' };
    }
  }
}

async function poll(row: RuntimeRow, after: number, signal: AbortSignal): Promise<AgentEvent[]> {
  const answer = await agentRequest(
    row.agentUrl as string,
    row.agentToken as string,
    'GET',
    `${AGENT_PATHS.events}?after=${after}&waitMs=${LONG_POLL_MS}`,
    undefined,
    LONG_POLL_MS + 5_000,
    signal,
  );
  if (answer.status !== 200) throw new Error(`agent answered ${answer.status}`);
  return (JSON.parse(answer.body) as { events: AgentEvent[] }).events;
}

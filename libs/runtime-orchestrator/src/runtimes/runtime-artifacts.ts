import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  AGENT_PATHS,
  type AgentDownloadCompleted,
  type ArtifactKind,
  StorageV1,
  type storageV1,
} from '@bctrl/contracts';
import { idFor } from '@bctrl/core';
import { TRANSPORT, Transport } from '@bctrl/transport';
import { agentFilePath, agentSource } from '../drivers/agent-client';
import type { RuntimeRow } from './runtimes.repository';

/** A recording is read whole at stop: minutes for a large one, then the stop goes on without it. */
const RECORDING_IMPORT_TIMEOUT_MS = 120_000;
const DOWNLOAD_IMPORT_TIMEOUT_MS = 600_000;

/**
 * Moves files out of a runtime into the object store as artifacts of its run. The storage service fetches them
 * from the runtime's agent itself (streamed, never through this process) with the agent's token, which it
 * neither stores nor logs; it records the artifact and publishes `artifact.created` on the run.
 */
@Injectable()
export class RuntimeArtifacts {
  private readonly logger = new Logger('RuntimeArtifacts');

  constructor(@Inject(TRANSPORT) private readonly transport: Transport) {}

  /** The run's rrweb recording, taken before the browser goes. Null when recording was off or it failed. */
  async collectRecording(row: RuntimeRow): Promise<storageV1.Artifact | null> {
    if ((row.config as { recording?: boolean } | null)?.recording === false || !row.agentUrl) return null;
    try {
      return await this.import(row, {
        kind: 'recording',
        // One recording per run: a stop retried after a timeout gets the same artifact, not a second one.
        artifactId: idFor('artifact', `${row.runId}:recording`),
        name: 'recording.ndjson',
        contentType: 'application/x-ndjson',
        agentPath: AGENT_PATHS.recording,
        timeoutMs: RECORDING_IMPORT_TIMEOUT_MS,
      });
    } catch (error) {
      // The stop goes on: a lost recording is reported, a runtime that cannot stop would cost more.
      this.logger.error(`could not keep the recording of ${row.id}: ${String(error)}`);
      return null;
    }
  }

  /** A finished browser download, as a `download` artifact. Throws when storage could not take it. */
  importDownload(row: RuntimeRow, download: AgentDownloadCompleted): Promise<storageV1.Artifact> {
    return this.import(row, {
      kind: 'download',
      // A relay restarted mid-download republishes its event: the import it repeats finds the same artifact.
      artifactId: idFor('artifact', `${row.runId}:download:${download.guid}`),
      // The file's name in downloads/, so that the artifact, the run event and the runtime's listing agree.
      name: download.path.slice(download.path.lastIndexOf('/') + 1) || download.suggestedFilename || 'download',
      contentType: '',
      agentPath: agentFilePath(download.path),
      timeoutMs: DOWNLOAD_IMPORT_TIMEOUT_MS,
    });
  }

  private import(
    row: RuntimeRow,
    file: {
      kind: ArtifactKind;
      artifactId: string;
      name: string;
      contentType: string;
      agentPath: string;
      timeoutMs: number;
    },
  ): Promise<storageV1.Artifact> {
    if (!row.agentUrl || !row.agentToken) throw new Error('the runtime has no agent to read from');
    return this.transport.request(
      StorageV1.importArtifact,
      {
        runId: row.runId,
        runtimeId: row.id,
        spaceId: row.spaceId,
        accountId: row.accountId,
        subaccountId: row.subaccountId ?? '',
        kind: file.kind,
        artifactId: file.artifactId,
        name: file.name,
        contentType: file.contentType,
        source: agentSource(row.agentUrl, row.agentToken, file.agentPath),
      },
      { principal: { kind: 'operator' } },
      { timeoutMs: file.timeoutMs },
    );
  }
}

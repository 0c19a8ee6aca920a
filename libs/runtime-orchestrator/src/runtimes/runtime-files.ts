import { Inject, Injectable } from '@nestjs/common';
import {
  AGENT_PATHS,
  type AgentFileList,
  type AgentFileWritten,
  RunEvent,
  type runtimesV1,
  StorageV1,
} from '@bctrl/contracts';
import { BctrlError, isId, type Principal, requireKey, requireStoragePath } from '@bctrl/core';
import { TRANSPORT, Transport } from '@bctrl/transport';
import { agentFilePath, agentRequest, agentSource } from '../drivers/agent-client';
import { RunEvents } from './run-events';
import { type RuntimeRow, RuntimesRepository } from './runtimes.repository';

/** Files move at the speed of the object store; a large one takes minutes, not the default RPC budget. */
const TRANSFER_TIMEOUT_MS = 600_000;
const RUNTIME_PATH_MAX = 1024;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A runtime path as the agent takes it: work-area-relative under `files/` or `downloads/`, or absolute (what a
 * stage returned). Checked here for a clear 400 naming the field; the agent confines every path again, resolving
 * symlinks, and an absolute path outside its work area is refused there.
 */
function checkRuntimePath(value: string, field: string, options: { writable?: boolean } = {}): string {
  const fail = (issue: string) => BctrlError.validation([{ field, issue }]);
  if (!value) throw fail('must not be empty');
  if (value.length > RUNTIME_PATH_MAX) throw fail(`must be at most ${RUNTIME_PATH_MAX} characters`);
  if (CONTROL_CHARS.test(value)) throw fail('must not contain NUL or control characters');
  if (value.includes('\\')) throw fail('must use `/` as the separator');
  const segments = value.split('/');
  if (segments.some((segment) => segment === '..' || segment === '.')) throw fail('must not contain `.` or `..`');
  if (value.startsWith('/')) return value;
  const area = options.writable ? ['files'] : ['files', 'downloads'];
  if (!area.includes(segments[0] as string) || segments.length < 2 || segments.some((s) => s === '')) {
    throw fail(`must be a path under ${area.map((a) => `\`${a}/\``).join(' or ')} of the runtime's work area`);
  }
  return value;
}

/**
 * Runtime files: stage (space storage → the runtime's work area), collect (work area → space storage, optionally
 * an artifact) and list. The storage service moves the bytes itself, streaming between the object store and the
 * runtime's agent, whichever driver runs it; the tenant's own key is what storage checks for the space.
 */
@Injectable()
export class RuntimeFiles {
  constructor(
    private readonly runtimes: RuntimesRepository,
    private readonly events: RunEvents,
    @Inject(TRANSPORT) private readonly transport: Transport,
  ) {}

  async stage(principal: Principal, request: runtimesV1.StageFileRequest) {
    const storagePath = requireStoragePath(request.storagePath, 'storagePath');
    const runtimePath = request.runtimePath
      ? checkRuntimePath(request.runtimePath, 'runtimePath', { writable: true })
      : `files/${storagePath}`;
    const row = await this.readyRuntime(principal, request.runtimeId);
    return this.events.recorded(row, 'files.stage', () => this.stageInto(row, principal, storagePath, runtimePath));
  }

  private async stageInto(
    row: RuntimeRow & { agentUrl: string; agentToken: string },
    principal: Principal,
    storagePath: string,
    runtimePath: string,
  ) {
    const exported = await this.agentCall('runtimePath', () =>
      this.transport.request(
        StorageV1.exportObject,
        {
          spaceId: row.spaceId,
          path: storagePath,
          target: agentSource(row.agentUrl, row.agentToken, agentFilePath(runtimePath)),
        },
        { principal },
        { timeoutMs: TRANSFER_TIMEOUT_MS },
      ),
    );
    const written = JSON.parse(exported.targetResponse) as AgentFileWritten;
    // The run's record shows the work-area path only: the absolute one names the runtime's host layout, and is
    // handed to the caller alone, for DOM.setFileInputFiles.
    await this.events.publish(row, RunEvent.fileStaged, {
      storagePath,
      path: written.path,
      size: written.size,
      sha256: written.sha256,
    });
    return { runtimePath: written.runtimePath, path: written.path, size: BigInt(written.size), sha256: written.sha256 };
  }

  async collect(principal: Principal, request: runtimesV1.CollectFileRequest) {
    const runtimePath = checkRuntimePath(request.runtimePath, 'runtimePath');
    const storagePath = requireStoragePath(request.storagePath, 'storagePath');
    const row = await this.readyRuntime(principal, request.runtimeId);
    return this.events.recorded(row, 'files.collect', () =>
      this.collectFrom(row, principal, runtimePath, storagePath, request.registerArtifact),
    );
  }

  private async collectFrom(
    row: RuntimeRow & { agentUrl: string; agentToken: string },
    principal: Principal,
    runtimePath: string,
    storagePath: string,
    registerArtifact: boolean,
  ) {
    const name = runtimePath.split('/').pop() as string;
    const imported = await this.agentCall('runtimePath', () =>
      this.transport.request(
        StorageV1.importObject,
        {
          spaceId: row.spaceId,
          path: storagePath,
          source: agentSource(row.agentUrl, row.agentToken, agentFilePath(runtimePath)),
          artifact: registerArtifact
            ? {
                runId: row.runId,
                runtimeId: row.id,
                accountId: row.accountId,
                subaccountId: row.subaccountId ?? '',
                kind: 'file',
                name,
              }
            : undefined,
        },
        { principal },
        { timeoutMs: TRANSFER_TIMEOUT_MS },
      ),
    );
    const object = imported.object;
    if (!object) throw new BctrlError('internal', 'storage answered without the stored object');
    const artifactId = imported.artifact?.id ?? '';
    await this.events.publish(row, RunEvent.fileCollected, {
      runtimePath,
      storagePath,
      size: Number(object.size),
      sha256: object.sha256,
      ...(artifactId ? { artifactId } : {}),
    });
    return { storagePath, size: object.size, sha256: object.sha256, artifactId };
  }

  async list(principal: Principal, request: runtimesV1.ListRuntimeFilesRequest) {
    const dir = request.dir ? checkRuntimePath(`${request.dir.replace(/\/+$/, '')}/x`, 'dir').slice(0, -2) : '';
    const row = await this.readyRuntime(principal, request.runtimeId, 'viewer');
    const answer = await agentRequest(
      row.agentUrl,
      row.agentToken,
      'GET',
      `${AGENT_PATHS.filesList}${dir ? `?dir=${encodeURIComponent(dir)}` : ''}`,
    );
    // A folder nothing was written to yet (no download so far) lists as empty.
    if (answer.status === 404) return { data: [], truncated: false };
    if (answer.status === 400) throw BctrlError.validation([{ field: 'dir', issue: agentMessage(answer.body) }]);
    if (answer.status !== 200) throw new BctrlError('unavailable', "The runtime's agent did not answer.");
    const listing = JSON.parse(answer.body) as AgentFileList;
    return {
      data: listing.files.map((file) => ({ path: file.path, size: BigInt(file.size), modifiedAt: file.modifiedAt })),
      truncated: listing.truncated,
    };
  }

  private async readyRuntime(
    principal: Principal,
    runtimeId: string,
    role: 'viewer' | 'member' = 'member',
  ): Promise<RuntimeRow & { agentUrl: string; agentToken: string }> {
    const key = requireKey(principal, 'viewer');
    const row = isId('runtime', runtimeId) ? await this.runtimes.findVisible(key, runtimeId) : null;
    if (!row) throw BctrlError.notFound('runtime');
    requireKey(principal, role);
    if (row.status !== 'ready' || !row.agentUrl || !row.agentToken) {
      throw new BctrlError('invalid_state', `The runtime is ${row.status}; files move in and out of a ready runtime.`);
    }
    return { ...row, agentUrl: row.agentUrl, agentToken: row.agentToken };
  }

  /** The agent's own refusals (a path outside the work area, a missing file) come back naming the tenant's field. */
  private async agentCall<T>(field: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof BctrlError && error.code === 'validation_failed' && error.details?.[0]?.field === 'target') {
        throw BctrlError.validation([{ field, issue: error.details[0].issue }]);
      }
      throw error;
    }
  }
}

function agentMessage(body: string): string {
  try {
    return String((JSON.parse(body) as { error?: unknown }).error ?? 'is not valid');
  } catch {
    return 'is not valid';
  }
}

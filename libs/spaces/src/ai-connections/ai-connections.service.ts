import { MessageInitShape } from '@bufbuild/protobuf';
import { Injectable } from '@nestjs/common';
import { probeModel } from '@bctrl/ai';
import { AI_PROVIDERS, aiConnectionsV1, isAiProvider } from '@bctrl/contracts';
import {
  assertValid,
  BctrlError,
  checkName,
  type ErrorDetail,
  isId,
  type KeyPrincipal,
  newId,
  type Principal,
  requireKey,
  toPageMessage,
} from '@bctrl/core';
import { SecretsService } from '../secrets/secrets.service';
import { SpacesService } from '../spaces/spaces.service';
import { iso } from '../tenancy/listing';
import { type AiConnectionFields, type AiConnectionRow, AiConnectionsRepository } from './ai-connections.repository';

export function renderAiConnection(row: AiConnectionRow): MessageInitShape<typeof aiConnectionsV1.AiConnectionSchema> {
  return {
    id: row.id,
    spaceId: row.spaceId,
    name: row.name,
    provider: row.provider,
    model: row.model,
    baseUrl: row.baseUrl ?? '',
    apiKeySecretId: row.apiKeySecretId,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** Every problem of a connection's fields at once, as a whole (after an update, what it would become). */
function checkFields(fields: AiConnectionFields): ErrorDetail[] {
  const problems: ErrorDetail[] = [...checkName(fields.name)];
  if (!isAiProvider(fields.provider)) {
    problems.push({ field: 'provider', issue: `must be one of ${AI_PROVIDERS.join(', ')}` });
  }
  problems.push(...checkName(fields.model, 'model'));
  if (fields.baseUrl !== null) problems.push(...checkBaseUrl(fields.baseUrl));
  else if (fields.provider === 'openai-compatible') {
    problems.push({ field: 'baseUrl', issue: 'is required for openai-compatible' });
  }
  if (!isId('secret', fields.apiKeySecretId)) {
    problems.push({ field: 'apiKeySecretId', issue: 'must be the id of a secret (sec_…)' });
  }
  return problems;
}

function checkBaseUrl(value: string): ErrorDetail[] {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return [{ field: 'baseUrl', issue: 'must be an absolute http(s) URL' }];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return [{ field: 'baseUrl', issue: 'must be an http or https URL' }];
  }
  // The key comes from the vault; one written into the URL would be stored and shown in clear.
  if (url.username || url.password) return [{ field: 'baseUrl', issue: 'must not carry credentials' }];
  if (url.search || url.hash) return [{ field: 'baseUrl', issue: 'must not have a query or a fragment' }];
  return [];
}

/** Model providers for hosted invocations, their API keys in the vault. */
@Injectable()
export class AiConnectionsService {
  constructor(
    private readonly connections: AiConnectionsRepository,
    private readonly spaces: SpacesService,
    private readonly secrets: SecretsService,
  ) {}

  async create(principal: Principal, request: aiConnectionsV1.CreateAiConnectionRequest) {
    const space = await this.spaces.inReach(principal, request.spaceId, 'member');
    const fields: AiConnectionFields = {
      name: request.name,
      provider: request.provider,
      model: request.model,
      baseUrl: request.baseUrl || null,
      apiKeySecretId: request.apiKeySecretId,
    };
    await this.checkOrThrow(space.id, fields);
    const row = await this.connections.create({
      id: newId('aiConnection'),
      accountId: space.accountId,
      subaccountId: space.subaccountId,
      spaceId: space.id,
      ...fields,
    });
    return renderAiConnection(row);
  }

  async list(principal: Principal, request: aiConnectionsV1.ListAiConnectionsRequest) {
    const key = requireKey(principal, 'viewer');
    const space = await this.spaces.inReach(principal, request.spaceId, 'viewer');
    const { rows, limit } = await this.connections.list(key, space.id, request.page);
    return toPageMessage(rows, limit, renderAiConnection);
  }

  async get(principal: Principal, id: string) {
    return renderAiConnection(await this.findOrThrow(requireKey(principal, 'viewer'), id));
  }

  async update(principal: Principal, request: aiConnectionsV1.UpdateAiConnectionRequest) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), request.aiConnectionId);
    requireKey(principal, 'member');
    const changes: Partial<AiConnectionFields> = {
      ...(request.name !== undefined ? { name: request.name } : {}),
      ...(request.provider !== undefined ? { provider: request.provider } : {}),
      ...(request.model !== undefined ? { model: request.model } : {}),
      ...(request.baseUrl !== undefined ? { baseUrl: request.baseUrl || null } : {}),
      ...(request.apiKeySecretId !== undefined ? { apiKeySecretId: request.apiKeySecretId } : {}),
    };
    const after: AiConnectionFields = {
      name: existing.name,
      provider: existing.provider,
      model: existing.model,
      baseUrl: existing.baseUrl,
      apiKeySecretId: existing.apiKeySecretId,
      ...changes,
    };
    await this.checkOrThrow(existing.spaceId, after);
    return renderAiConnection(await this.connections.update(existing.id, after.name, changes));
  }

  async delete(principal: Principal, id: string) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), id);
    requireKey(principal, 'member');
    // Invocations will use connections; until they exist nothing else refers to one.
    await this.connections.delete(existing.id);
    return { id: existing.id, deleted: true };
  }

  /** One tiny call with the connection's key: `{ok, model, latencyMs}`, or 422 with the provider's answer. */
  async test(principal: Principal, id: string) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), id);
    requireKey(principal, 'member');
    const access = await this.access(principal, existing, {});
    const result = await probeModel(access);
    if (!result.ok) {
      const status = result.status === null ? 'could not be reached' : `answered ${result.status}`;
      throw new BctrlError('ai_connection_failed', `The ${existing.provider} provider ${status}: ${result.message}`, [
        { field: 'provider', issue: result.status === null ? 'unreachable' : `status ${result.status}` },
      ]);
    }
    return { ok: true, model: result.model, latencyMs: BigInt(result.latencyMs) };
  }

  /** What a worker needs to call the model for the caller, the key's use recorded on the run when there is one. */
  async resolve(principal: Principal, request: aiConnectionsV1.ResolveAiConnectionRequest) {
    const key = requireKey(principal, 'member');
    const row = isId('aiConnection', request.aiConnectionId)
      ? await this.connections.findVisible(key, request.aiConnectionId)
      : null;
    if (!row || row.spaceId !== request.spaceId) throw BctrlError.notFound('AI connection');
    const access = await this.access(principal, row, { runId: request.runId, runtimeId: request.runtimeId });
    return { provider: access.provider, model: access.model, baseUrl: access.baseUrl, apiKey: access.apiKey };
  }

  private async access(principal: Principal, row: AiConnectionRow, run: { runId?: string; runtimeId?: string }) {
    if (!isAiProvider(row.provider)) throw new BctrlError('internal', `Unknown provider ${row.provider}.`);
    const secret = await this.secrets.resolve(principal, {
      secretId: row.apiKeySecretId,
      spaceId: row.spaceId,
      use: { user: `ai-connection ${row.id}`, runId: run.runId, runtimeId: run.runtimeId },
    });
    return { provider: row.provider, model: row.model, baseUrl: row.baseUrl ?? '', apiKey: secret.value };
  }

  private async checkOrThrow(spaceId: string, fields: AiConnectionFields) {
    const problems = checkFields(fields);
    if (
      !problems.some((p) => p.field === 'apiKeySecretId') &&
      !(await this.secrets.isInSpace(fields.apiKeySecretId, spaceId))
    ) {
      problems.push({ field: 'apiKeySecretId', issue: 'must be a secret of this space' });
    }
    assertValid(problems);
  }

  private async findOrThrow(key: KeyPrincipal, id: string) {
    const row = isId('aiConnection', id) ? await this.connections.findVisible(key, id) : null;
    if (!row) throw BctrlError.notFound('AI connection');
    return row;
  }
}

import { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import { proxiesV1, RuntimesV1 } from '@bctrl/contracts';
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
import { TRANSPORT, Transport } from '@bctrl/transport';
import { SecretsService } from '../secrets/secrets.service';
import { SpacesService } from '../spaces/spaces.service';
import { iso } from '../tenancy/listing';
import { ProxiesRepository, type ProxyFields, type ProxyRow } from './proxies.repository';
import { checkBypass, checkCredentials, checkServer, checkUsername, normalizeServer } from './proxy-rules';

export function renderProxy(row: ProxyRow): MessageInitShape<typeof proxiesV1.ProxySchema> {
  return {
    id: row.id,
    spaceId: row.spaceId,
    name: row.name,
    server: row.server,
    username: row.username ?? '',
    passwordSecretId: row.passwordSecretId ?? '',
    bypass: row.bypass,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/**
 * Outbound proxies for runtimes. The password is a vault secret of the same space; only `resolve`, for the service
 * starting a runtime on a caller's behalf, reads it (and that read is a `secret.used` event on the run).
 */
@Injectable()
export class ProxiesService {
  constructor(
    private readonly proxies: ProxiesRepository,
    private readonly spaces: SpacesService,
    private readonly secrets: SecretsService,
    @Inject(TRANSPORT) private readonly transport: Transport,
  ) {}

  async create(principal: Principal, request: proxiesV1.CreateProxyRequest) {
    const space = await this.spaces.inReach(principal, request.spaceId, 'member');
    const fields = await this.checked(space.id, {
      name: request.name,
      server: request.server,
      username: request.username || null,
      passwordSecretId: request.passwordSecretId || null,
      bypass: [...request.bypass],
    });
    const row = await this.proxies.create({
      id: newId('proxy'),
      accountId: space.accountId,
      subaccountId: space.subaccountId,
      spaceId: space.id,
      ...fields,
    });
    return renderProxy(row);
  }

  async list(principal: Principal, request: proxiesV1.ListProxiesRequest) {
    const key = requireKey(principal, 'viewer');
    const space = await this.spaces.inReach(principal, request.spaceId, 'viewer');
    const { rows, limit } = await this.proxies.list(key, space.id, request.page);
    return toPageMessage(rows, limit, renderProxy);
  }

  async get(principal: Principal, proxyId: string) {
    return renderProxy(await this.findOrThrow(requireKey(principal, 'viewer'), proxyId));
  }

  /** Absent fields stay; the result is checked whole (a server turned socks5 under existing credentials is a 400). */
  async update(principal: Principal, request: proxiesV1.UpdateProxyRequest) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), request.proxyId);
    requireKey(principal, 'member');
    const fields = await this.checked(existing.spaceId, {
      name: request.name ?? existing.name,
      server: request.server ?? existing.server,
      username: request.username !== undefined ? request.username || null : existing.username,
      passwordSecretId:
        request.passwordSecretId !== undefined ? request.passwordSecretId || null : existing.passwordSecretId,
      bypass: request.bypass ? [...request.bypass.entries] : existing.bypass,
    });
    return renderProxy(await this.proxies.update(existing.id, fields));
  }

  /** Not from under a live runtime that started with it: 409 naming them (asked of runtime-orchestrator). */
  async delete(principal: Principal, proxyId: string) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), proxyId);
    requireKey(principal, 'member');
    const { runtimeIds } = await this.transport.request(
      RuntimesV1.liveUsing,
      { spaceId: existing.spaceId, proxyId: existing.id },
      { principal },
    );
    if (runtimeIds.length > 0) {
      throw new BctrlError(
        'conflict',
        `The proxy is in use by ${runtimeIds.length} live runtime(s); stop them first.`,
        runtimeIds.map((id) => ({ field: 'users', issue: `runtime ${id}` })),
      );
    }
    await this.proxies.delete(existing.id);
    return { id: existing.id, deleted: true };
  }

  /**
   * What a runtime of `spaceId` needs to use the proxy, for the caller whose principal the call carries (a key that
   * could start that runtime). The password is read from the vault for this use, recorded on the run when given.
   */
  async resolve(principal: Principal, request: proxiesV1.ResolveProxyRequest) {
    const key = requireKey(principal, 'member');
    const row = isId('proxy', request.proxyId) ? await this.proxies.findVisible(key, request.proxyId) : null;
    if (!row || row.spaceId !== request.spaceId) throw BctrlError.notFound('proxy');
    const password = row.passwordSecretId
      ? (
          await this.secrets.resolve(principal, {
            secretId: row.passwordSecretId,
            spaceId: row.spaceId,
            use: { user: `proxy ${row.id}`, runId: request.runId, runtimeId: request.runtimeId },
          })
        ).value
      : '';
    return { server: row.server, bypass: row.bypass, username: row.username ?? '', password };
  }

  /** Every issue at once, then the password's secret (only worth a query once the rest is sound). */
  private async checked(spaceId: string, fields: ProxyFields): Promise<ProxyFields> {
    const details: ErrorDetail[] = [
      ...checkName(fields.name),
      ...checkServer(fields.server),
      ...checkUsername(fields.username ?? ''),
      ...checkBypass(fields.bypass),
    ];
    if (!details.some((detail) => detail.field === 'server')) {
      details.push(...checkCredentials(fields.server, fields.username ?? '', fields.passwordSecretId ?? ''));
    }
    const secretId = fields.passwordSecretId;
    if (secretId && !(await this.secrets.isInSpace(secretId, spaceId))) {
      details.push({ field: 'passwordSecretId', issue: 'is not a secret of this space' });
    }
    assertValid(details);
    return { ...fields, server: normalizeServer(fields.server) };
  }

  /** Out of reach and nonexistent look the same. */
  private async findOrThrow(key: KeyPrincipal, proxyId: string) {
    const row = isId('proxy', proxyId) ? await this.proxies.findVisible(key, proxyId) : null;
    if (!row) throw BctrlError.notFound('proxy');
    return row;
  }
}

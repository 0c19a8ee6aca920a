import { MessageInitShape } from '@bufbuild/protobuf';
import { Injectable, Logger } from '@nestjs/common';
import { spacesV1 } from '@bctrl/contracts';
import {
  apiKeyDisplayPrefix,
  assertValid,
  BctrlError,
  checkName,
  digestsEqual,
  ErrorDetail,
  generateApiKey,
  hashApiKey,
  isId,
  KeyPrincipal,
  newId,
  parseTimestamp,
  Principal,
  requireKey,
  Role,
  ROLES,
  toPageMessage,
} from '@bctrl/core';
import type { ApiKey } from '../generated/prisma/client';
import { SpacesRepository } from '../spaces/spaces.repository';
import { SubaccountsRepository } from '../subaccounts/subaccounts.repository';
import { iso } from '../tenancy/listing';
import { owningSubaccount } from '../tenancy/owning-subaccount';
import { requireUnrestricted } from '../tenancy/tenancy';
import { ApiKeysRepository } from './api-keys.repository';

export function renderApiKey(row: ApiKey): MessageInitShape<typeof spacesV1.ApiKeySchema> {
  return {
    id: row.id,
    accountId: row.accountId,
    name: row.name,
    role: row.role,
    subaccountId: row.subaccountId ?? '',
    spaceIds: row.spaceIds,
    prefix: row.prefix,
    createdAt: iso(row.createdAt),
    expiresAt: iso(row.expiresAt),
    lastUsedAt: iso(row.lastUsedAt),
    revokedAt: iso(row.revokedAt),
  };
}

/** lastUsedAt is advisory; writing it at most once a minute keeps authentication read-only on the hot path. */
const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_SPACE_IDS = 100;

@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger('ApiKeys');

  constructor(
    private readonly keys: ApiKeysRepository,
    private readonly subaccounts: SubaccountsRepository,
    private readonly spaces: SpacesRepository,
  ) {}

  async create(principal: Principal, request: spacesV1.CreateApiKeyRequest) {
    const key = this.admin(principal, 'manage API keys');
    const details: ErrorDetail[] = [...checkName(request.name)];
    if (!ROLES.includes(request.role as Role))
      details.push({ field: 'role', issue: 'must be admin, member or viewer' });
    const expiresAt = request.expiresAt ? parseTimestamp(request.expiresAt, 'expiresAt') : null;
    if (expiresAt && expiresAt.getTime() <= Date.now())
      details.push({ field: 'expiresAt', issue: 'must be in the future' });
    if (request.spaceIds.length > MAX_SPACE_IDS)
      details.push({ field: 'spaceIds', issue: `must list at most ${MAX_SPACE_IDS} spaces` });
    assertValid(details);

    const subaccountId = await owningSubaccount(key, request.subaccountId, this.subaccounts, 'keys');
    const spaceIds = [...new Set(request.spaceIds)];
    if (spaceIds.length > 0) {
      const found = await this.spaces.existingIds({ accountId: key.accountId, subaccountId }, spaceIds);
      const missing = spaceIds.filter((id) => !found.has(id));
      assertValid(missing.map((id) => ({ field: 'spaceIds', issue: `${id} is not a space this key could reach` })));
    }

    const secret = generateApiKey();
    const row = await this.keys.create({
      id: newId('apiKey'),
      accountId: key.accountId,
      subaccountId,
      name: request.name,
      role: request.role,
      spaceIds,
      prefix: apiKeyDisplayPrefix(secret),
      hash: hashApiKey(secret),
      expiresAt,
    });
    return { key: renderApiKey(row), secret };
  }

  async list(principal: Principal, request: spacesV1.ListApiKeysRequest) {
    const key = this.admin(principal, 'manage API keys');
    const { rows, limit } = await this.keys.list(key, request.page);
    return toPageMessage(rows, limit, renderApiKey);
  }

  async revoke(principal: Principal, keyId: string) {
    const key = this.admin(principal, 'manage API keys');
    const row = isId('apiKey', keyId) ? await this.keys.findVisible(key, keyId) : null;
    if (!row) throw BctrlError.notFound('API key');
    return renderApiKey(await this.keys.revoke(row.id));
  }

  /** Resolves a presented key's hash to its principal; every failure looks the same to the caller. */
  async authenticate(keyHash: string): Promise<KeyPrincipal> {
    const unauthenticated = new BctrlError('unauthenticated', 'The API key is missing, invalid, expired or revoked.');
    if (!/^[0-9a-f]{64}$/.test(keyHash)) throw unauthenticated;
    const row = await this.keys.findByHash(keyHash);
    const now = new Date();
    if (!row || !digestsEqual(row.hash, keyHash) || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) {
      throw unauthenticated;
    }
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      this.keys.touch(row.id, now).catch((err: unknown) => this.logger.warn(`lastUsedAt not recorded: ${String(err)}`));
    }
    return {
      kind: 'key',
      accountId: row.accountId,
      subaccountId: row.subaccountId,
      spaceIds: row.spaceIds.length > 0 ? row.spaceIds : null,
      role: row.role as Role,
      keyId: row.id,
    };
  }

  private admin(principal: Principal, what: string): KeyPrincipal {
    const key = requireKey(principal, 'admin');
    requireUnrestricted(key, what);
    return key;
  }
}

import { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import { RunEvent, secretsV1 } from '@bctrl/contracts';
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
  requireOperator,
  toPageMessage,
} from '@bctrl/core';
import { publishRunEvent } from '@bctrl/service';
import { rememberSecretValue } from '@bctrl/telemetry';
import { TRANSPORT, Transport } from '@bctrl/transport';
import { open, rewrap, seal, VaultKeyMissingError } from '@bctrl/vault';
import { SPACES_OPTIONS, type SpacesModuleOptions } from '../spaces.options';
import { SpacesService } from '../spaces/spaces.service';
import { iso } from '../tenancy/listing';
import { sealedOf, type SecretRow, SecretsRepository } from './secrets.repository';

/** A value up to 64 KiB: a PEM key or a service-account JSON fits; a file does not belong in the vault. */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;
export const SECRET_DESCRIPTION_MAX_LENGTH = 1000;
const REWRAP_BATCH = 200;

export function renderSecret(row: SecretRow): MessageInitShape<typeof secretsV1.SecretSchema> {
  return {
    id: row.id,
    spaceId: row.spaceId,
    name: row.name,
    description: row.description,
    version: row.version,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    lastUsedAt: row.lastUsedAt ? iso(row.lastUsedAt) : '',
  };
}

/** A using service's ask: the request message, or the same fields from a service of this process. */
export interface SecretRequestForUse {
  secretId: string;
  spaceId: string;
  use?: { user: string; runId?: string; runtimeId?: string };
}

/** What seals a version: the secret and the version, so a sealed value cannot be moved to another. */
const sealContext = (id: string, version: number) => `${id}:${version}`;

function checkValue(value: string): ErrorDetail[] {
  if (value.length === 0) return [{ field: 'value', issue: 'must not be empty' }];
  if (Buffer.byteLength(value, 'utf8') > SECRET_VALUE_MAX_BYTES) {
    return [{ field: 'value', issue: `must be at most ${SECRET_VALUE_MAX_BYTES} bytes` }];
  }
  return [];
}

function checkDescription(description: string): ErrorDetail[] {
  return description.length > SECRET_DESCRIPTION_MAX_LENGTH
    ? [{ field: 'description', issue: `must be at most ${SECRET_DESCRIPTION_MAX_LENGTH} characters` }]
    : [];
}

/**
 * The vault. Values go in sealed (a data key per version, wrapped by the current KEK) and come out only through
 * `resolve`, for a service using the secret on its caller's behalf; every such use is a `secret.used` run event.
 */
@Injectable()
export class SecretsService {
  constructor(
    private readonly secrets: SecretsRepository,
    private readonly spaces: SpacesService,
    @Inject(SPACES_OPTIONS) private readonly options: SpacesModuleOptions,
    @Inject(TRANSPORT) private readonly transport: Transport,
  ) {}

  async create(principal: Principal, request: secretsV1.CreateSecretRequest) {
    // Masked from this process's logs from the first moment, whatever fails next.
    rememberSecretValue(request.value);
    const space = await this.spaces.inReach(principal, request.spaceId, 'member');
    assertValid([...checkName(request.name), ...checkValue(request.value), ...checkDescription(request.description)]);
    const id = newId('secret');
    const row = await this.secrets.create(
      {
        id,
        accountId: space.accountId,
        subaccountId: space.subaccountId,
        spaceId: space.id,
        name: request.name,
        description: request.description,
      },
      seal(this.options.vault, request.value, sealContext(id, 1)),
    );
    return renderSecret(row);
  }

  async list(principal: Principal, request: secretsV1.ListSecretsRequest) {
    const key = requireKey(principal, 'viewer');
    const space = await this.spaces.inReach(principal, request.spaceId, 'viewer');
    const { rows, limit } = await this.secrets.list(key, space.id, request.page);
    return toPageMessage(rows, limit, renderSecret);
  }

  /** Whether `secretId` names a secret of `spaceId` (a malformed id names none). */
  async isInSpace(secretId: string, spaceId: string): Promise<boolean> {
    return isId('secret', secretId) && (await this.secrets.existsInSpace(secretId, spaceId));
  }

  async get(principal: Principal, secretId: string) {
    return renderSecret(await this.findOrThrow(requireKey(principal, 'viewer'), secretId));
  }

  async update(principal: Principal, request: secretsV1.UpdateSecretRequest) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), request.secretId);
    requireKey(principal, 'member');
    assertValid([
      ...(request.name !== undefined ? checkName(request.name) : []),
      ...(request.description !== undefined ? checkDescription(request.description) : []),
    ]);
    const row = await this.secrets.update(existing.id, request.name ?? existing.name, {
      ...(request.name !== undefined ? { name: request.name } : {}),
      ...(request.description !== undefined ? { description: request.description } : {}),
    });
    return renderSecret(row);
  }

  async rotate(principal: Principal, request: secretsV1.RotateSecretValueRequest) {
    rememberSecretValue(request.value);
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), request.secretId);
    requireKey(principal, 'member');
    assertValid(checkValue(request.value));
    const next = existing.version + 1;
    const sealed = seal(this.options.vault, request.value, sealContext(existing.id, next));
    return renderSecret(await this.secrets.rotate(existing.id, existing.version, sealed));
  }

  async delete(principal: Principal, secretId: string) {
    const existing = await this.findOrThrow(requireKey(principal, 'viewer'), secretId);
    requireKey(principal, 'member');
    const result = await this.secrets.deleteUnused(existing.id);
    if ('users' in result) {
      throw new BctrlError(
        'conflict',
        `The secret is in use by ${result.users.length} resource(s); change or delete them first.`,
        result.users.map((user) => ({ field: 'users', issue: user })),
      );
    }
    return { id: existing.id, deleted: true };
  }

  /**
   * The value, for a service using the secret in `spaceId` on behalf of the caller whose principal the call carries
   * (a key that could drive that space). Recorded on the run it is used for, by id and user, never by value.
   */
  async resolve(principal: Principal, request: SecretRequestForUse) {
    const key = requireKey(principal, 'member');
    const row = isId('secret', request.secretId) ? await this.secrets.findVisible(key, request.secretId) : null;
    if (!row || row.spaceId !== request.spaceId) throw BctrlError.notFound('secret');
    const value = open(this.options.vault, sealedOf(row), sealContext(row.id, row.version));
    rememberSecretValue(value);
    await this.secrets.markUsed(row.id);
    const use = request.use;
    if (use?.runId) {
      await publishRunEvent(
        this.transport,
        {
          runId: use.runId,
          runtimeId: use.runtimeId ?? '',
          spaceId: row.spaceId,
          accountId: row.accountId,
          subaccountId: row.subaccountId,
        },
        RunEvent.secretUsed,
        { secretId: row.id, version: row.version, user: use.user },
      );
    }
    return { value, version: row.version };
  }

  /**
   * Re-wraps every data key not under the current KEK (after a new key was put first in BCTRL_VAULT_KEYS), so the
   * old key can be retired. Values are not re-encrypted: each keeps its own data key. Operators only.
   */
  async rewrapAll(principal: Principal) {
    requireOperator(principal);
    const vault = this.options.vault;
    const counts = { rewrapped: 0n, alreadyCurrent: 0n, unreadable: 0n, missingKeyIds: new Set<string>() };
    counts.alreadyCurrent = BigInt(await this.secrets.countSealedUnder(vault.current.id));
    let afterId = '';
    for (;;) {
      const rows = await this.secrets.sealedElsewhere(vault.current.id, afterId, REWRAP_BATCH);
      if (rows.length === 0) break;
      for (const row of rows) {
        afterId = row.id;
        try {
          const sealed = rewrap(vault, sealedOf(row), sealContext(row.id, row.version));
          if (await this.secrets.rewrap(row, sealed)) counts.rewrapped += 1n;
          else counts.alreadyCurrent += 1n;
        } catch (error) {
          if (!(error instanceof VaultKeyMissingError)) throw error;
          counts.unreadable += 1n;
          counts.missingKeyIds.add(error.kekId);
        }
      }
    }
    return {
      rewrapped: counts.rewrapped,
      alreadyCurrent: counts.alreadyCurrent,
      unreadable: counts.unreadable,
      missingKeyIds: [...counts.missingKeyIds].sort(),
    };
  }

  /** Out of reach and nonexistent look the same. */
  private async findOrThrow(key: KeyPrincipal, secretId: string) {
    const row = isId('secret', secretId) ? await this.secrets.findVisible(key, secretId) : null;
    if (!row) throw BctrlError.notFound('secret');
    return row;
  }
}

import { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import { RuntimesV1, spacesV1, StorageV1 } from '@bctrl/contracts';
import {
  assertValid,
  BctrlError,
  checkMetadata,
  checkName,
  isId,
  newId,
  Principal,
  requireKey,
  toPageMessage,
} from '@bctrl/core';
import { TRANSPORT, Transport } from '@bctrl/transport';
import { SubaccountsRepository } from '../subaccounts/subaccounts.repository';
import { iso } from '../tenancy/listing';
import { owningSubaccount } from '../tenancy/owning-subaccount';
import { requireUnrestricted } from '../tenancy/tenancy';
import { SpaceRow, SpacesRepository } from './spaces.repository';

type SpaceMessage = MessageInitShape<typeof spacesV1.SpaceSchema>;

export function renderSpace(row: SpaceRow): SpaceMessage {
  return {
    id: row.id,
    accountId: row.accountId,
    subaccountId: row.subaccountId ?? '',
    name: row.name,
    metadata: { entries: (row.metadata ?? {}) as Record<string, string> },
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

@Injectable()
export class SpacesService {
  constructor(
    private readonly spaces: SpacesRepository,
    private readonly subaccounts: SubaccountsRepository,
    @Inject(TRANSPORT) private readonly transport: Transport,
  ) {}

  async create(principal: Principal, request: spacesV1.CreateSpaceRequest): Promise<SpaceMessage> {
    const key = requireKey(principal, 'member');
    requireUnrestricted(key, 'create spaces');
    const metadata = request.metadata?.entries ?? {};
    assertValid([...checkName(request.name), ...checkMetadata(metadata)]);
    const subaccountId = await owningSubaccount(key, request.subaccountId, this.subaccounts, 'spaces');
    const row = await this.spaces.create({
      id: newId('space'),
      accountId: key.accountId,
      subaccountId,
      name: request.name,
      metadata,
    });
    return renderSpace(row);
  }

  async list(principal: Principal, request: spacesV1.ListSpacesRequest) {
    const key = requireKey(principal, 'viewer');
    const { rows, limit } = await this.spaces.list(key, request.page);
    return toPageMessage(rows, limit, renderSpace);
  }

  async get(principal: Principal, spaceId: string): Promise<SpaceMessage> {
    return renderSpace(await this.inReach(principal, spaceId, 'viewer'));
  }

  async update(principal: Principal, request: spacesV1.UpdateSpaceRequest): Promise<SpaceMessage> {
    const details = [
      ...(request.name !== undefined ? checkName(request.name) : []),
      ...(request.metadata ? checkMetadata(request.metadata.entries) : []),
    ];
    const existing = await this.inReach(principal, request.spaceId, 'member');
    assertValid(details);
    const row = await this.spaces.update(existing.id, {
      ...(request.name !== undefined ? { name: request.name } : {}),
      ...(request.metadata ? { metadata: request.metadata.entries } : {}),
    });
    return renderSpace(row);
  }

  /**
   * A space with live runtimes is not deleted from under them: 409, unless `force`, which stops them first
   * (through the orchestrator, with the caller's own principal) and then deletes.
   */
  async delete(principal: Principal, request: spacesV1.DeleteSpaceRequest) {
    const existing = await this.inReach(principal, request.spaceId, 'member');
    const context = { principal };
    if (request.force) {
      await this.transport.request(RuntimesV1.stopSpace, { spaceId: existing.id }, context, { timeoutMs: 60_000 });
    } else {
      const { count } = await this.transport.request(RuntimesV1.countLive, { spaceId: existing.id }, context);
      if (count > 0) {
        throw new BctrlError(
          'invalid_state',
          `The space has ${count} live runtime(s); stop them or delete with force=true.`,
        );
      }
    }
    // The space's files go with it: purged first, so a failure leaves the space there to delete again.
    await this.transport.request(
      StorageV1.purgeSpace,
      { spaceId: existing.id },
      { principal: { kind: 'operator' } },
      { timeoutMs: 120_000 },
    );
    await this.spaces.delete(existing.id);
    return { id: existing.id, deleted: true };
  }

  /**
   * The space, when the key can see it and has `role` there. Out of reach and nonexistent look the same (404): a key
   * never learns that another tenant's space exists; one it can see but not write to is a 403.
   */
  async inReach(principal: Principal, spaceId: string, role: 'viewer' | 'member') {
    const key = requireKey(principal, 'viewer');
    const row = isId('space', spaceId) ? await this.spaces.findVisible(key, spaceId) : null;
    if (!row) throw BctrlError.notFound('space');
    requireKey(principal, role);
    return row;
  }
}

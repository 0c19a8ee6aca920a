import { MessageInitShape } from '@bufbuild/protobuf';
import { Injectable } from '@nestjs/common';
import { spacesV1 } from '@bctrl/contracts';
import {
  assertValid,
  BctrlError,
  checkName,
  isId,
  KeyPrincipal,
  newId,
  Principal,
  requireKey,
  toPageMessage,
} from '@bctrl/core';
import type { Subaccount } from '../generated/prisma/client';
import { iso } from '../tenancy/listing';
import { requireUnrestricted } from '../tenancy/tenancy';
import { SubaccountsRepository } from './subaccounts.repository';

export function renderSubaccount(row: Subaccount): MessageInitShape<typeof spacesV1.SubaccountSchema> {
  return {
    id: row.id,
    accountId: row.accountId,
    name: row.name,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** Subaccounts are managed by admin keys; a subaccount's own admin key sees and renames only itself. */
@Injectable()
export class SubaccountsService {
  constructor(private readonly subaccounts: SubaccountsRepository) {}

  async create(principal: Principal, request: spacesV1.CreateSubaccountRequest) {
    const key = this.admin(principal, 'create subaccounts');
    if (key.subaccountId) throw new BctrlError('forbidden', 'A subaccount key cannot create subaccounts.');
    assertValid(checkName(request.name));
    return renderSubaccount(
      await this.subaccounts.create({ id: newId('subaccount'), accountId: key.accountId, name: request.name }),
    );
  }

  async list(principal: Principal, request: spacesV1.ListSubaccountsRequest) {
    const key = this.admin(principal, 'list subaccounts');
    const { rows, limit } = await this.subaccounts.list(key, request.page);
    return toPageMessage(rows, limit, renderSubaccount);
  }

  async get(principal: Principal, id: string) {
    return renderSubaccount(await this.findOrThrow(this.admin(principal, 'read subaccounts'), id));
  }

  async update(principal: Principal, request: spacesV1.UpdateSubaccountRequest) {
    const existing = await this.findOrThrow(this.admin(principal, 'update subaccounts'), request.subaccountId);
    if (request.name !== undefined) assertValid(checkName(request.name));
    return renderSubaccount(
      await this.subaccounts.update(existing.id, request.name !== undefined ? { name: request.name } : {}),
    );
  }

  async delete(principal: Principal, id: string) {
    const key = this.admin(principal, 'delete subaccounts');
    const existing = await this.findOrThrow(key, id);
    if (key.subaccountId) throw new BctrlError('forbidden', 'A subaccount key cannot delete its subaccount.');
    if ((await this.subaccounts.deleteIfEmpty(existing.id)) === 'has_spaces') {
      throw new BctrlError('invalid_state', 'The subaccount still owns spaces; delete them first.');
    }
    return { id: existing.id, deleted: true };
  }

  private admin(principal: Principal, what: string): KeyPrincipal {
    const key = requireKey(principal, 'admin');
    requireUnrestricted(key, what);
    return key;
  }

  private async findOrThrow(key: KeyPrincipal, id: string) {
    const row = isId('subaccount', id) ? await this.subaccounts.findVisible(key, id) : null;
    if (!row) throw BctrlError.notFound('subaccount');
    return row;
  }
}

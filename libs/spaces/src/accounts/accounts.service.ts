import { Injectable } from '@nestjs/common';
import { spacesV1 } from '@bctrl/contracts';
import {
  apiKeyDisplayPrefix,
  assertValid,
  checkName,
  generateApiKey,
  hashApiKey,
  newId,
  Principal,
  requireOperator,
} from '@bctrl/core';
import type { NewApiKeyRow } from '../api-keys/api-keys.repository';
import { ApiKeysRepository } from '../api-keys/api-keys.repository';
import { AccountsRepository } from './accounts.repository';

function adminKeyRow(accountId: string, secret: string, name: string): NewApiKeyRow {
  return {
    id: newId('apiKey'),
    accountId,
    subaccountId: null,
    name,
    role: 'admin',
    spaceIds: [],
    prefix: apiKeyDisplayPrefix(secret),
    hash: hashApiKey(secret),
    expiresAt: null,
  };
}

/** Accounts are the platform operator's business: created at first start and by operator tooling, never by tenants. */
@Injectable()
export class AccountsService {
  constructor(
    private readonly accounts: AccountsRepository,
    private readonly keys: ApiKeysRepository,
  ) {}

  /**
   * First start creates the root account and its admin key (the bootstrap key when one is configured,
   * else a random one returned once). Later starts change nothing, except that a configured bootstrap key
   * the root account does not have yet is added, so an operator can set one on an existing install.
   */
  async ensureRoot(principal: Principal, request: { bootstrapKey: string }) {
    requireOperator(principal);
    return this.accounts.withBootstrapLock(async () => {
      const root = await this.accounts.findRoot();
      if (!root) {
        const accountId = newId('account');
        const secret = request.bootstrapKey || generateApiKey();
        await this.accounts.createWithKey(
          { id: accountId, name: 'root', isRoot: true },
          adminKeyRow(accountId, secret, 'bootstrap'),
        );
        return { accountId, created: true, createdKeySecret: request.bootstrapKey ? '' : secret };
      }
      if (request.bootstrapKey && !(await this.keys.findByHash(hashApiKey(request.bootstrapKey)))) {
        await this.accounts.createKey(adminKeyRow(root.id, request.bootstrapKey, 'bootstrap'));
      }
      return { accountId: root.id, created: false, createdKeySecret: '' };
    });
  }

  async createAccount(principal: Principal, request: spacesV1.CreateAccountRequest) {
    requireOperator(principal);
    assertValid(checkName(request.name));
    const accountId = newId('account');
    const secret = generateApiKey();
    await this.accounts.createWithKey(
      { id: accountId, name: request.name, isRoot: false },
      adminKeyRow(accountId, secret, 'admin'),
    );
    return { accountId, adminKeySecret: secret };
  }
}

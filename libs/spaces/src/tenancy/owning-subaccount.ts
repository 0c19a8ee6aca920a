import { BctrlError, isId, KeyPrincipal } from '@bctrl/core';
import type { SubaccountsRepository } from '../subaccounts/subaccounts.repository';

/**
 * The subaccount a new resource belongs to: the key's own for a subaccount key (which may not name another),
 * or the one an account key names, which must be of the same account; none when nothing is named.
 */
export async function owningSubaccount(
  key: KeyPrincipal,
  requested: string,
  subaccounts: SubaccountsRepository,
  what: string,
): Promise<string | null> {
  if (!requested) return key.subaccountId;
  if (key.subaccountId && requested !== key.subaccountId) {
    throw new BctrlError('forbidden', `A subaccount key can only create ${what} in its own subaccount.`);
  }
  const owner = isId('subaccount', requested) ? await subaccounts.findInAccount(key.accountId, requested) : null;
  if (!owner) throw BctrlError.validation([{ field: 'subaccountId', issue: 'is not a subaccount of this account' }]);
  return owner.id;
}

import { BctrlError, KeyPrincipal } from '@bctrl/core';

/**
 * Keys limited to some spaces manage only those spaces' resources; account-wide work (subaccounts, keys,
 * creating spaces) needs a key that is not limited to spaces.
 */
export function requireUnrestricted(principal: KeyPrincipal, what: string): void {
  if (principal.spaceIds) throw new BctrlError('forbidden', `A key limited to some spaces cannot ${what}.`);
}

/**
 * The rows a key can see: its account, its subaccount if it has one, its spaces if it is limited to some.
 * Combine with other conditions through AND, never by spreading: a spread `id` would replace the scope's.
 */
export function spaceScope(principal: KeyPrincipal) {
  return {
    accountId: principal.accountId,
    ...(principal.subaccountId ? { subaccountId: principal.subaccountId } : {}),
    ...(principal.spaceIds ? { id: { in: principal.spaceIds } } : {}),
  };
}

export function subaccountScope(principal: KeyPrincipal) {
  return {
    accountId: principal.accountId,
    ...(principal.subaccountId ? { id: principal.subaccountId } : {}),
  };
}

export function apiKeyScope(principal: KeyPrincipal) {
  return {
    accountId: principal.accountId,
    ...(principal.subaccountId ? { subaccountId: principal.subaccountId } : {}),
  };
}

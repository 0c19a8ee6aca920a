import { BctrlError } from './errors';

export type Role = 'admin' | 'member' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'member', 'viewer'];

/** A tenant's API key, resolved by the spaces service from the key's hash. */
export interface KeyPrincipal {
  kind: 'key';
  accountId: string;
  /** null: the key belongs to the account itself and sees every subaccount's spaces. */
  subaccountId: string | null;
  /** null: every space in the key's reach; otherwise only these. */
  spaceIds: string[] | null;
  role: Role;
  keyId: string;
}

/** The platform acting on its own behalf (bootstrap, reconcile, tests of internal calls). */
export interface OperatorPrincipal {
  kind: 'operator';
}

export type Principal = KeyPrincipal | OperatorPrincipal;

const ROLE_RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[needed];
}

/** Tenant calls need a key principal with at least `needed`; the operator principal is for the platform's own calls. */
export function requireKey(principal: Principal, needed: Role): KeyPrincipal {
  if (principal.kind !== 'key') throw new BctrlError('forbidden', 'This call needs an API key.');
  if (!roleAtLeast(principal.role, needed)) {
    throw new BctrlError('forbidden', `This call needs a key with the ${needed} role or higher.`);
  }
  return principal;
}

/** Internal calls the platform makes on its own behalf (never reachable with a tenant's key). */
export function requireOperator(principal: Principal): void {
  if (principal.kind !== 'operator') throw new BctrlError('forbidden', 'This call is for the platform operator only.');
}

/** What every resource that lives in a space records about whose it is. */
export interface SpaceOwned {
  accountId: string;
  subaccountId: string | null;
  spaceId: string;
}

/**
 * The resources in spaces a key can see, as a query filter: its account, its subaccount if it has one, its spaces
 * if it is limited to some. Combine with other conditions through AND, never by spreading.
 */
export function spaceResourceScope(principal: KeyPrincipal) {
  return {
    accountId: principal.accountId,
    ...(principal.subaccountId ? { subaccountId: principal.subaccountId } : {}),
    ...(principal.spaceIds ? { spaceId: { in: principal.spaceIds } } : {}),
  };
}

/** The same rule as spaceResourceScope, for a resource already in hand (one read from Redis, say). */
export function canSeeSpaceResource(principal: KeyPrincipal, resource: SpaceOwned): boolean {
  return (
    resource.accountId === principal.accountId &&
    (!principal.subaccountId || resource.subaccountId === principal.subaccountId) &&
    (!principal.spaceIds || principal.spaceIds.includes(resource.spaceId))
  );
}

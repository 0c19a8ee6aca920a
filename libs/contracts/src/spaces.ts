import * as pb from './generated/bctrl/spaces/v1/spaces_pb';
import { defineMethod } from './method';

const SERVICE = 'spaces';

/** Wire names are frozen: tenants' gateways and older replicas call them during a rolling upgrade. */
export const SpacesV1 = {
  authenticate: defineMethod(
    SERVICE,
    'spaces.v1.authenticate',
    pb.AuthenticateRequestSchema,
    pb.AuthenticateResponseSchema,
  ),
  createSpace: defineMethod(SERVICE, 'spaces.v1.createSpace', pb.CreateSpaceRequestSchema, pb.SpaceSchema),
  listSpaces: defineMethod(SERVICE, 'spaces.v1.listSpaces', pb.ListSpacesRequestSchema, pb.ListSpacesResponseSchema),
  getSpace: defineMethod(SERVICE, 'spaces.v1.getSpace', pb.GetSpaceRequestSchema, pb.SpaceSchema),
  updateSpace: defineMethod(SERVICE, 'spaces.v1.updateSpace', pb.UpdateSpaceRequestSchema, pb.SpaceSchema),
  deleteSpace: defineMethod(
    SERVICE,
    'spaces.v1.deleteSpace',
    pb.DeleteSpaceRequestSchema,
    pb.DeleteSpaceResponseSchema,
  ),
  createSubaccount: defineMethod(
    SERVICE,
    'spaces.v1.createSubaccount',
    pb.CreateSubaccountRequestSchema,
    pb.SubaccountSchema,
  ),
  listSubaccounts: defineMethod(
    SERVICE,
    'spaces.v1.listSubaccounts',
    pb.ListSubaccountsRequestSchema,
    pb.ListSubaccountsResponseSchema,
  ),
  getSubaccount: defineMethod(SERVICE, 'spaces.v1.getSubaccount', pb.GetSubaccountRequestSchema, pb.SubaccountSchema),
  updateSubaccount: defineMethod(
    SERVICE,
    'spaces.v1.updateSubaccount',
    pb.UpdateSubaccountRequestSchema,
    pb.SubaccountSchema,
  ),
  deleteSubaccount: defineMethod(
    SERVICE,
    'spaces.v1.deleteSubaccount',
    pb.DeleteSubaccountRequestSchema,
    pb.DeleteSubaccountResponseSchema,
  ),
  createApiKey: defineMethod(
    SERVICE,
    'spaces.v1.createApiKey',
    pb.CreateApiKeyRequestSchema,
    pb.CreateApiKeyResponseSchema,
  ),
  listApiKeys: defineMethod(
    SERVICE,
    'spaces.v1.listApiKeys',
    pb.ListApiKeysRequestSchema,
    pb.ListApiKeysResponseSchema,
  ),
  revokeApiKey: defineMethod(SERVICE, 'spaces.v1.revokeApiKey', pb.RevokeApiKeyRequestSchema, pb.ApiKeySchema),
  ensureRootAccount: defineMethod(
    SERVICE,
    'spaces.v1.ensureRootAccount',
    pb.EnsureRootAccountRequestSchema,
    pb.EnsureRootAccountResponseSchema,
  ),
  createAccount: defineMethod(
    SERVICE,
    'spaces.v1.createAccount',
    pb.CreateAccountRequestSchema,
    pb.CreateAccountResponseSchema,
  ),
} as const;

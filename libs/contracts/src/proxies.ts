import * as pb from './generated/bctrl/spaces/v1/proxies_pb';
import { defineMethod } from './method';

const SERVICE = 'spaces';

/** Proxies' methods, answered by the spaces service. Wire names are frozen once shipped. */
export const ProxiesV1 = {
  createProxy: defineMethod(SERVICE, 'spaces.v1.createProxy', pb.CreateProxyRequestSchema, pb.ProxySchema),
  listProxies: defineMethod(
    SERVICE,
    'spaces.v1.listProxies',
    pb.ListProxiesRequestSchema,
    pb.ListProxiesResponseSchema,
  ),
  getProxy: defineMethod(SERVICE, 'spaces.v1.getProxy', pb.GetProxyRequestSchema, pb.ProxySchema),
  updateProxy: defineMethod(SERVICE, 'spaces.v1.updateProxy', pb.UpdateProxyRequestSchema, pb.ProxySchema),
  deleteProxy: defineMethod(
    SERVICE,
    'spaces.v1.deleteProxy',
    pb.DeleteProxyRequestSchema,
    pb.DeleteProxyResponseSchema,
  ),
  resolveProxy: defineMethod(
    SERVICE,
    'spaces.v1.resolveProxy',
    pb.ResolveProxyRequestSchema,
    pb.ResolveProxyResponseSchema,
  ),
} as const;

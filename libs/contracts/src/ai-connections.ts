import * as pb from './generated/bctrl/spaces/v1/ai_connections_pb';
import { defineMethod } from './method';

const SERVICE = 'spaces';

/** The providers an AI connection may name (API.md): the gateway checks requests against it, the spaces service too. */
export const AI_PROVIDERS = ['openai', 'anthropic', 'openai-compatible'] as const;
export type AiProvider = (typeof AI_PROVIDERS)[number];

export function isAiProvider(value: string): value is AiProvider {
  return (AI_PROVIDERS as readonly string[]).includes(value);
}

/** AI connections' methods, answered by the spaces service. Wire names are frozen once shipped. */
export const AiConnectionsV1 = {
  createAiConnection: defineMethod(
    SERVICE,
    'spaces.v1.createAiConnection',
    pb.CreateAiConnectionRequestSchema,
    pb.AiConnectionSchema,
  ),
  listAiConnections: defineMethod(
    SERVICE,
    'spaces.v1.listAiConnections',
    pb.ListAiConnectionsRequestSchema,
    pb.ListAiConnectionsResponseSchema,
  ),
  getAiConnection: defineMethod(
    SERVICE,
    'spaces.v1.getAiConnection',
    pb.GetAiConnectionRequestSchema,
    pb.AiConnectionSchema,
  ),
  updateAiConnection: defineMethod(
    SERVICE,
    'spaces.v1.updateAiConnection',
    pb.UpdateAiConnectionRequestSchema,
    pb.AiConnectionSchema,
  ),
  deleteAiConnection: defineMethod(
    SERVICE,
    'spaces.v1.deleteAiConnection',
    pb.DeleteAiConnectionRequestSchema,
    pb.DeleteAiConnectionResponseSchema,
  ),
  testAiConnection: defineMethod(
    SERVICE,
    'spaces.v1.testAiConnection',
    pb.TestAiConnectionRequestSchema,
    pb.TestAiConnectionResponseSchema,
  ),
  resolveAiConnection: defineMethod(
    SERVICE,
    'spaces.v1.resolveAiConnection',
    pb.ResolveAiConnectionRequestSchema,
    pb.ResolveAiConnectionResponseSchema,
  ),
} as const;

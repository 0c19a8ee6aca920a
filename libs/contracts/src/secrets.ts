import * as pb from './generated/bctrl/spaces/v1/secrets_pb';
import { defineMethod } from './method';

const SERVICE = 'spaces';

/** The vault's methods, answered by the spaces service. Wire names are frozen once shipped. */
export const SecretsV1 = {
  createSecret: defineMethod(SERVICE, 'spaces.v1.createSecret', pb.CreateSecretRequestSchema, pb.SecretSchema),
  listSecrets: defineMethod(
    SERVICE,
    'spaces.v1.listSecrets',
    pb.ListSecretsRequestSchema,
    pb.ListSecretsResponseSchema,
  ),
  getSecret: defineMethod(SERVICE, 'spaces.v1.getSecret', pb.GetSecretRequestSchema, pb.SecretSchema),
  updateSecret: defineMethod(SERVICE, 'spaces.v1.updateSecret', pb.UpdateSecretRequestSchema, pb.SecretSchema),
  rotateSecretValue: defineMethod(
    SERVICE,
    'spaces.v1.rotateSecretValue',
    pb.RotateSecretValueRequestSchema,
    pb.SecretSchema,
  ),
  deleteSecret: defineMethod(
    SERVICE,
    'spaces.v1.deleteSecret',
    pb.DeleteSecretRequestSchema,
    pb.DeleteSecretResponseSchema,
  ),
  resolveSecret: defineMethod(
    SERVICE,
    'spaces.v1.resolveSecret',
    pb.ResolveSecretRequestSchema,
    pb.ResolveSecretResponseSchema,
  ),
  rewrapSecrets: defineMethod(
    SERVICE,
    'spaces.v1.rewrapSecrets',
    pb.RewrapSecretsRequestSchema,
    pb.RewrapSecretsResponseSchema,
  ),
} as const;

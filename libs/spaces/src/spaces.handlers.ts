import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AiConnectionsV1, ProxiesV1, SecretsV1, SpacesV1 } from '@bctrl/contracts';
import { bindHandlers, handle } from '@bctrl/service';
import { Closable, TRANSPORT, Transport } from '@bctrl/transport';
import { AccountsService } from './accounts/accounts.service';
import { RootBootstrap } from './accounts/root-bootstrap';
import { AiConnectionsService } from './ai-connections/ai-connections.service';
import { ApiKeysService } from './api-keys/api-keys.service';
import { ProxiesService } from './proxies/proxies.service';
import { SecretsService } from './secrets/secrets.service';
import { SpacesService } from './spaces/spaces.service';
import { SubaccountsService } from './subaccounts/subaccounts.service';

/** The spaces service's side of its contracts: each subject answered by one service method. */
@Injectable()
export class SpacesHandlers implements OnApplicationBootstrap, OnModuleDestroy {
  private subscription: Closable | null = null;

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    private readonly spaces: SpacesService,
    private readonly subaccounts: SubaccountsService,
    private readonly apiKeys: ApiKeysService,
    private readonly accounts: AccountsService,
    private readonly root: RootBootstrap,
    private readonly secrets: SecretsService,
    private readonly proxies: ProxiesService,
    private readonly aiConnections: AiConnectionsService,
  ) {}

  async onApplicationBootstrap() {
    await this.root.run();
    this.subscription = bindHandlers(this.transport, [
      handle(SpacesV1.authenticate, async (req) => ({
        principal: principalMessage(await this.apiKeys.authenticate(req.keyHash)),
      })),
      handle(SpacesV1.createSpace, (req, ctx) => this.spaces.create(ctx.principal, req)),
      handle(SpacesV1.listSpaces, (req, ctx) => this.spaces.list(ctx.principal, req)),
      handle(SpacesV1.getSpace, (req, ctx) => this.spaces.get(ctx.principal, req.spaceId)),
      handle(SpacesV1.updateSpace, (req, ctx) => this.spaces.update(ctx.principal, req)),
      handle(SpacesV1.deleteSpace, (req, ctx) => this.spaces.delete(ctx.principal, req)),
      handle(SpacesV1.createSubaccount, (req, ctx) => this.subaccounts.create(ctx.principal, req)),
      handle(SpacesV1.listSubaccounts, (req, ctx) => this.subaccounts.list(ctx.principal, req)),
      handle(SpacesV1.getSubaccount, (req, ctx) => this.subaccounts.get(ctx.principal, req.subaccountId)),
      handle(SpacesV1.updateSubaccount, (req, ctx) => this.subaccounts.update(ctx.principal, req)),
      handle(SpacesV1.deleteSubaccount, (req, ctx) => this.subaccounts.delete(ctx.principal, req.subaccountId)),
      handle(SpacesV1.createApiKey, (req, ctx) => this.apiKeys.create(ctx.principal, req)),
      handle(SpacesV1.listApiKeys, (req, ctx) => this.apiKeys.list(ctx.principal, req)),
      handle(SpacesV1.revokeApiKey, (req, ctx) => this.apiKeys.revoke(ctx.principal, req.keyId)),
      handle(SpacesV1.ensureRootAccount, (req, ctx) => this.accounts.ensureRoot(ctx.principal, req)),
      handle(SpacesV1.createAccount, (req, ctx) => this.accounts.createAccount(ctx.principal, req)),
      handle(SecretsV1.createSecret, (req, ctx) => this.secrets.create(ctx.principal, req)),
      handle(SecretsV1.listSecrets, (req, ctx) => this.secrets.list(ctx.principal, req)),
      handle(SecretsV1.getSecret, (req, ctx) => this.secrets.get(ctx.principal, req.secretId)),
      handle(SecretsV1.updateSecret, (req, ctx) => this.secrets.update(ctx.principal, req)),
      handle(SecretsV1.rotateSecretValue, (req, ctx) => this.secrets.rotate(ctx.principal, req)),
      handle(SecretsV1.deleteSecret, (req, ctx) => this.secrets.delete(ctx.principal, req.secretId)),
      handle(SecretsV1.resolveSecret, (req, ctx) => this.secrets.resolve(ctx.principal, req)),
      handle(SecretsV1.rewrapSecrets, (_req, ctx) => this.secrets.rewrapAll(ctx.principal)),
      handle(ProxiesV1.createProxy, (req, ctx) => this.proxies.create(ctx.principal, req)),
      handle(ProxiesV1.listProxies, (req, ctx) => this.proxies.list(ctx.principal, req)),
      handle(ProxiesV1.getProxy, (req, ctx) => this.proxies.get(ctx.principal, req.proxyId)),
      handle(ProxiesV1.updateProxy, (req, ctx) => this.proxies.update(ctx.principal, req)),
      handle(ProxiesV1.deleteProxy, (req, ctx) => this.proxies.delete(ctx.principal, req.proxyId)),
      handle(ProxiesV1.resolveProxy, (req, ctx) => this.proxies.resolve(ctx.principal, req)),
      handle(AiConnectionsV1.createAiConnection, (req, ctx) => this.aiConnections.create(ctx.principal, req)),
      handle(AiConnectionsV1.listAiConnections, (req, ctx) => this.aiConnections.list(ctx.principal, req)),
      handle(AiConnectionsV1.getAiConnection, (req, ctx) => this.aiConnections.get(ctx.principal, req.aiConnectionId)),
      handle(AiConnectionsV1.updateAiConnection, (req, ctx) => this.aiConnections.update(ctx.principal, req)),
      handle(AiConnectionsV1.deleteAiConnection, (req, ctx) =>
        this.aiConnections.delete(ctx.principal, req.aiConnectionId),
      ),
      handle(AiConnectionsV1.testAiConnection, (req, ctx) =>
        this.aiConnections.test(ctx.principal, req.aiConnectionId),
      ),
      handle(AiConnectionsV1.resolveAiConnection, (req, ctx) => this.aiConnections.resolve(ctx.principal, req)),
    ]);
  }

  async onModuleDestroy() {
    await this.subscription?.close();
  }
}

function principalMessage(principal: Awaited<ReturnType<ApiKeysService['authenticate']>>) {
  return {
    kind: 'key',
    accountId: principal.accountId,
    subaccountId: principal.subaccountId ?? '',
    spaceIds: principal.spaceIds ?? [],
    role: principal.role,
    keyId: principal.keyId,
  };
}

import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SpacesV1 } from '@bctrl/contracts';
import { BctrlError, hashApiKey, Principal, Role } from '@bctrl/core';
import { TRANSPORT, Transport } from '@bctrl/transport';
import { inRequestTrace } from '../http/request-context';
import { RATE_LIMITER, RateLimiter } from '../rate-limit/rate-limiter';

const PUBLIC_ROUTE = 'bctrl:public';

/** Operations routes (health, readiness, docs) and lease-token URLs carry no API key. */
export const PublicRoute = () => SetMetadata(PUBLIC_ROUTE, true);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest<FastifyRequest>().bctrl.principal;
  if (!principal) throw new BctrlError('unauthenticated', 'The API key is missing.');
  return principal;
});

// Keys we issue are 46 characters; anything longer than this or with spaces/controls is not a key.
const KEY_SHAPE = /^[\x21-\x7e]{1,256}$/;

/**
 * Resolves the Bearer key to a principal on every request. Nothing is cached, so a revoked key fails
 * on its very next request, on every gateway replica.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(RATE_LIMITER) private readonly rateLimiter: RateLimiter,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const request = ctx.switchToHttp().getRequest<FastifyRequest>();
    // Operations routes (/healthz, /readyz, /docs) live outside /v1 and are open by design.
    if (!request.url.startsWith('/v1/') && request.url !== '/v1') return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [ctx.getHandler(), ctx.getClass()])) return true;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/i.exec(header.trim()) : null;
    const key = match?.[1]?.trim();
    if (!key || !KEY_SHAPE.test(key)) {
      throw new BctrlError('unauthenticated', 'Send an API key as `Authorization: Bearer <key>`.');
    }
    const answer = await inRequestTrace(request, () =>
      this.transport.request(SpacesV1.authenticate, { keyHash: hashApiKey(key) }, { principal: { kind: 'operator' } }),
    );
    const p = answer.principal;
    if (!p) throw new BctrlError('unauthenticated', 'The API key is missing, invalid, expired or revoked.');
    request.bctrl.principal = {
      kind: 'key',
      accountId: p.accountId,
      subaccountId: p.subaccountId || null,
      spaceIds: p.spaceIds.length > 0 ? p.spaceIds : null,
      role: p.role as Role,
      keyId: p.keyId,
    };
    const decision = await this.rateLimiter.hit(p.keyId);
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    if (decision.limit > 0) {
      void reply.header('x-ratelimit-limit', String(decision.limit));
      void reply.header('x-ratelimit-remaining', String(decision.remaining));
      void reply.header('x-ratelimit-reset', String(decision.retryAfterSeconds));
    }
    if (!decision.allowed) {
      void reply.header('retry-after', String(decision.retryAfterSeconds));
      throw new BctrlError(
        'rate_limited',
        `This key may make ${decision.limit} requests per second; retry after the Retry-After delay.`,
      );
    }
    return true;
  }
}

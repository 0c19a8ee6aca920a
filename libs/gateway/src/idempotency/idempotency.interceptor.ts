import { createHash } from 'node:crypto';
import { CallHandler, ExecutionContext, HttpStatus, Inject, Injectable, NestInterceptor } from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, Observable } from 'rxjs';
import { BctrlError } from '@bctrl/core';
import { IDEMPOTENCY_STORE, IdempotencyStore } from './idempotency.store';

const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

/**
 * `Idempotency-Key` on a POST: the first request's 2xx answer is stored and replayed for any retry with
 * the same key and body; the same key with another body, or while the first is still running, is a 409.
 * Failed requests free the key, so a retry after an error does the work.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    @Inject(IDEMPOTENCY_STORE) private readonly store: IdempotencyStore,
    private readonly reflector: Reflector,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = ctx.switchToHttp().getRequest<FastifyRequest>();
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const header = request.headers['idempotency-key'];
    if (request.method !== 'POST' || header === undefined) return next.handle();
    const principal = request.bctrl.principal;
    if (typeof header !== 'string' || !KEY_SHAPE.test(header)) {
      throw BctrlError.validation([{ field: 'Idempotency-Key', issue: 'must be 1 to 255 printable characters' }]);
    }
    // Keys are per account (and per key for the operator-less case): two tenants may pick the same key.
    const owner = principal?.kind === 'key' ? principal.accountId : 'anonymous';
    const key = `${owner}:${header}`;
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const status = this.reflector.get<number>(HTTP_CODE_METADATA, ctx.getHandler()) ?? HttpStatus.CREATED;
    return from(this.run(key, fingerprint, status, reply, next));
  }

  private async run(
    key: string,
    fingerprint: string,
    status: number,
    reply: FastifyReply,
    next: CallHandler,
  ): Promise<unknown> {
    const claim = await this.store.begin(key, fingerprint);
    switch (claim.state) {
      case 'replay':
        void reply.status(claim.response.status).header('idempotent-replayed', 'true');
        return claim.response.body;
      case 'in_flight':
        throw new BctrlError('conflict', 'A request with this Idempotency-Key is still being processed; retry later.');
      case 'mismatch':
        throw new BctrlError('conflict', 'This Idempotency-Key was already used with a different request.');
      case 'new':
        break;
    }
    try {
      const body = await lastValue(next.handle());
      await this.store.complete(key, fingerprint, { status, body });
      return body;
    } catch (error) {
      await this.store.abandon(key);
      throw error;
    }
  }
}

function lastValue(observable: Observable<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let value: unknown;
    observable.subscribe({ next: (v) => (value = v), error: reject, complete: () => resolve(value) });
  });
}

import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { RpcMethod } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { RequestOptions, TRANSPORT, Transport } from '@bctrl/transport';
import { inRequestTrace } from './request-context';

/** Calls a service on behalf of the request's principal, inside the request's trace. */
@Injectable()
export class ServiceClient {
  constructor(@Inject(TRANSPORT) private readonly transport: Transport) {}

  call<Req extends DescMessage, Res extends DescMessage>(
    request: FastifyRequest,
    method: RpcMethod<Req, Res>,
    payload: MessageInitShape<Req>,
    options: RequestOptions = {},
  ): Promise<MessageShape<Res>> {
    const principal = request.bctrl.principal;
    if (!principal) throw new BctrlError('unauthenticated', 'The API key is missing.');
    return inRequestTrace(request, () => this.transport.request(method, payload, { principal }, options));
  }
}

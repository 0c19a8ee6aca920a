import { randomBytes } from 'node:crypto';
import { Context, context, propagation, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '@bctrl/core';
import { platformInstruments } from '@bctrl/telemetry';

const tracer = trace.getTracer('bctrl-gateway');

/** What the gateway learns about a request before any handler runs. */
export interface RequestState {
  requestId: string;
  span: Span;
  traceContext: Context;
  principal?: Principal;
}

declare module 'fastify' {
  interface FastifyRequest {
    bctrl: RequestState;
  }
}

export function requestState(request: FastifyRequest): RequestState {
  return request.bctrl;
}

/** Runs `work` inside the request's trace, so that spans it starts (transport calls) join the request's trace. */
export function inRequestTrace<T>(request: FastifyRequest, work: () => T): T {
  return context.with(request.bctrl.traceContext, work);
}

/**
 * Every request gets a server span at the very start, and its trace id is the request id: an operator
 * given an `x-request-id` from a tenant finds the whole trace. Set before routing, so 404s, 401s and
 * body-parser errors carry it too.
 */
export function installRequestContext(fastify: FastifyInstance): void {
  fastify.decorateRequest('bctrl', null as unknown as RequestState);
  fastify.addHook('onRequest', (request, reply, done) => {
    const parent = propagation.extract(context.active(), request.headers);
    const span = tracer.startSpan(
      `${request.method} ${request.routeOptions.url ?? 'unmatched'}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'url.path': request.url.split('?')[0] },
      },
      parent,
    );
    const spanContext = span.spanContext();
    // Without a tracer provider (telemetry off) the span is a no-op with an all-zero id; a random id still
    // gives the tenant something unique to quote.
    const requestId = trace.isSpanContextValid(spanContext) ? spanContext.traceId : randomBytes(16).toString('hex');
    request.bctrl = { requestId, span, traceContext: trace.setSpan(parent, span) };
    void reply.header('x-request-id', requestId);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const span = request.bctrl?.span;
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    platformInstruments().httpServerRequestDuration.record(reply.elapsedTime / 1000, {
      'http.request.method': KNOWN_METHODS.has(request.method) ? request.method : '_OTHER',
      // The route template, never the path: ids in paths would make a series per resource.
      ...(request.routeOptions.url ? { 'http.route': request.routeOptions.url } : {}),
      'http.response.status_code': reply.statusCode,
    });
    done();
  });
}

/** The semantic conventions' method set; anything else is `_OTHER`, so a client cannot mint new series. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

import Fastify, { type FastifyInstance } from 'fastify';
import { captureMetrics, type MetricsCapture } from '@bctrl/telemetry/testing';
import { installRequestContext } from './request-context';

describe('installRequestContext: the HTTP server duration metric', () => {
  let metrics: MetricsCapture;
  let fastify: FastifyInstance;

  beforeEach(async () => {
    metrics = captureMetrics('gateway');
    fastify = Fastify();
    installRequestContext(fastify);
    fastify.get('/v1/spaces/:spaceId', () => ({ ok: true }));
    fastify.post('/v1/spaces', async (_request, reply) => reply.status(500).send({ failed: true }));
    await fastify.ready();
  });

  afterEach(async () => {
    await fastify.close();
    await metrics.stop();
  });

  it('records each request under its route template, method and status, in seconds', async () => {
    await fastify.inject({ method: 'GET', url: '/v1/spaces/sp_one' });
    await fastify.inject({ method: 'GET', url: '/v1/spaces/sp_two?x=1' });
    await fastify.inject({ method: 'POST', url: '/v1/spaces' });
    const points = await metrics.points('http.server.request.duration');
    expect(points).toEqual(
      expect.arrayContaining([
        {
          attributes: {
            'http.request.method': 'GET',
            'http.route': '/v1/spaces/:spaceId',
            'http.response.status_code': 200,
          },
          count: 2,
          sum: expect.any(Number),
        },
        {
          attributes: { 'http.request.method': 'POST', 'http.route': '/v1/spaces', 'http.response.status_code': 500 },
          count: 1,
          sum: expect.any(Number),
        },
      ]),
    );
    expect(points).toHaveLength(2);
    // Seconds, not milliseconds: an in-process request takes far less than one.
    for (const point of points) expect(point.sum).toBeLessThan(1);
  });

  it('records a request no route matched without a route, and an unknown method as _OTHER', async () => {
    await fastify.inject({ method: 'GET', url: '/v1/nothing/here' });
    await fastify.inject({ method: 'PROPFIND' as 'GET', url: '/v1/spaces' });
    const points = await metrics.points('http.server.request.duration');
    expect(points.map((point) => point.attributes)).toEqual(
      expect.arrayContaining([
        { 'http.request.method': 'GET', 'http.response.status_code': 404 },
        { 'http.request.method': '_OTHER', 'http.response.status_code': 404 },
      ]),
    );
  });
});

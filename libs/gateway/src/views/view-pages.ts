import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { ConnectionsV1, type connectionsV1, StorageV1 } from '@bctrl/contracts';
import { BctrlError, type KeyPrincipal } from '@bctrl/core';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { sendBytes } from '../storage/send-bytes';
import { STORAGE_DATA_PLANE_PORT, type StorageDataPlane } from '../storage/storage-data-plane';
import { LIVE_VIEW_CSS, LIVE_VIEW_SCRIPT, liveViewHtml } from './live-view-page';
import { RECORDING_VIEW_CSP, recordingViewAssets, recordingViewHtml } from './recording-view';
import { LIVE_VIEW_PAGE_PREFIX, RECORDING_VIEW_PAGE_PREFIX } from './views.controller';

const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

/**
 * The pages behind view links. Their token is the credential (no API key), so they are plain Fastify routes
 * outside the API's guards. A strict CSP: same-origin script and styles only, frames as data: images, the
 * viewer's socket to this origin; no referrer, so the token in the URL never leaks to anything the page loads.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

function sendPage(reply: FastifyReply, status: number, html: string, csp?: string): void {
  void reply
    .code(status)
    .headers({
      ...PAGE_HEADERS,
      ...(csp ? { 'content-security-policy': csp } : {}),
      'content-type': 'text/html; charset=utf-8',
    })
    .send(html);
}

/**
 * What a view token's lease may read, as a key principal: a viewer of that one space of that account. The
 * storage service applies its usual scope rules to it, so a view link can never reach another space's objects.
 */
function leasePrincipal(lease: connectionsV1.ViewLease): KeyPrincipal {
  return {
    kind: 'key',
    accountId: lease.accountId,
    subaccountId: lease.subaccountId || null,
    spaceIds: [lease.spaceId],
    role: 'viewer',
    keyId: lease.id,
  };
}

function sendAsset(reply: FastifyReply, contentType: string, body: string | Buffer): void {
  void reply
    .headers({
      'content-type': contentType,
      'x-content-type-options': 'nosniff',
      'cache-control': 'public, max-age=300',
    })
    .send(body);
}

export function endedPage(title: string, message: string): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body data-state="ended"><h1>${escape(title)}</h1><p>${escape(message)}</p></body></html>`;
}

/** Installs the view pages and their assets on the gateway's server (both modes: the gateway serves pages). */
export function installViewPages(app: NestFastifyApplication): void {
  const transport = app.get<Transport>(TRANSPORT);
  const dataPlane = app.get<StorageDataPlane>(STORAGE_DATA_PLANE_PORT);
  const fastify = app.getHttpAdapter().getInstance();
  const resolve = async (token: string, kind: 'live' | 'recording') =>
    TOKEN.test(token)
      ? (await transport.request(ConnectionsV1.resolveView, { token, kind }, { principal: { kind: 'operator' } })).lease
      : undefined;

  fastify.get(`${RECORDING_VIEW_PAGE_PREFIX}recording-view.js`, (_request, reply) =>
    sendAsset(reply, 'text/javascript; charset=utf-8', recordingViewAssets().script),
  );
  fastify.get(`${RECORDING_VIEW_PAGE_PREFIX}recording-view.css`, (_request, reply) =>
    sendAsset(reply, 'text/css; charset=utf-8', recordingViewAssets().style),
  );
  // A view link's page: its lease resolved first, so a dead link says so at once instead of opening a dead page.
  const leasedPage = (
    prefix: string,
    kind: 'live' | 'recording',
    title: string,
    render: (lease: connectionsV1.ViewLease, token: string) => { html: string; csp?: string },
  ) =>
    fastify.get<{ Params: { token: string } }>(`${prefix}:token`, async (request, reply) => {
      let lease;
      try {
        lease = await resolve(request.params.token, kind);
      } catch {
        sendPage(reply, 503, endedPage(title, 'The platform could not be reached; try again.'));
        return;
      }
      if (!lease) {
        sendPage(
          reply,
          404,
          endedPage(
            title,
            `This ${kind === 'live' ? 'live-view' : 'recording'} link is invalid, has expired or was revoked.`,
          ),
        );
        return;
      }
      const page = render(lease, request.params.token);
      sendPage(reply, 200, page.html, page.csp);
    });

  leasedPage(RECORDING_VIEW_PAGE_PREFIX, 'recording', 'Recording unavailable', (lease, token) => ({
    html: recordingViewHtml({
      recordingUrl: `${RECORDING_VIEW_PAGE_PREFIX}${token}/recording`,
      rrwebScriptUrl: `${RECORDING_VIEW_PAGE_PREFIX}recording-view.js`,
      styleUrl: `${RECORDING_VIEW_PAGE_PREFIX}recording-view.css`,
      title: `Recording of ${lease.runId}`,
    }),
    csp: RECORDING_VIEW_CSP,
  }));
  // The recording itself, streamed from the object store through the gateway (the page's connect-src is 'self').
  fastify.get<{ Params: { token: string } }>(
    `${RECORDING_VIEW_PAGE_PREFIX}:token/recording`,
    async (request, reply) => {
      const fail = (status: number, code: string, message: string) =>
        reply.code(status).header('cache-control', 'no-store').send({ error: { code, message } });
      try {
        const lease = await resolve(request.params.token, 'recording');
        if (!lease) return fail(404, 'not_found', 'This recording link is invalid, has expired or was revoked.');
        const principal = leasePrincipal(lease);
        let cursor = '';
        for (;;) {
          const page = await transport.request(
            StorageV1.listArtifacts,
            { runId: lease.runId, limit: 100, cursor },
            { principal },
          );
          const recording = page.data.find((artifact) => artifact.kind === 'recording');
          if (recording) {
            const read = await dataPlane.readArtifact(principal, { artifactId: recording.id });
            return sendBytes(reply.header('cache-control', 'no-store'), {
              ...read,
              meta: { ...read.meta, fileName: null },
            });
          }
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        return fail(404, 'not_found', 'This run has no recording (yet: it is stored when the runtime stops).');
      } catch (error) {
        if (error instanceof BctrlError && error.code === 'not_found') return fail(404, 'not_found', error.message);
        return fail(503, 'unavailable', 'The recording could not be read; try again.');
      }
    },
  );

  fastify.get(`${LIVE_VIEW_PAGE_PREFIX}live-view.js`, (_request, reply) =>
    sendAsset(reply, 'text/javascript; charset=utf-8', LIVE_VIEW_SCRIPT),
  );
  fastify.get(`${LIVE_VIEW_PAGE_PREFIX}live-view.css`, (_request, reply) =>
    sendAsset(reply, 'text/css; charset=utf-8', LIVE_VIEW_CSS),
  );
  leasedPage(LIVE_VIEW_PAGE_PREFIX, 'live', 'Live view unavailable', () => ({ html: liveViewHtml() }));
}

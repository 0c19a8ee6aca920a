import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConnectionsV1 } from '@bctrl/contracts';
import { type Transport, TRANSPORT } from '@bctrl/transport';
import type { FastifyReply } from 'fastify';
import { LIVE_VIEW_CSS, LIVE_VIEW_SCRIPT, liveViewHtml } from './live-view-page';
import { LIVE_VIEW_PAGE_PREFIX } from './views.controller';

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

function sendPage(reply: FastifyReply, status: number, html: string): void {
  void reply
    .code(status)
    .headers({ ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' })
    .send(html);
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

/** Installs the live-view page and its assets on the gateway's server (both modes: the gateway serves pages). */
export function installViewPages(app: NestFastifyApplication): void {
  const transport = app.get<Transport>(TRANSPORT);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get(`${LIVE_VIEW_PAGE_PREFIX}live-view.js`, (_request, reply) =>
    sendAsset(reply, 'text/javascript; charset=utf-8', LIVE_VIEW_SCRIPT),
  );
  fastify.get(`${LIVE_VIEW_PAGE_PREFIX}live-view.css`, (_request, reply) =>
    sendAsset(reply, 'text/css; charset=utf-8', LIVE_VIEW_CSS),
  );
  fastify.get<{ Params: { token: string } }>(`${LIVE_VIEW_PAGE_PREFIX}:token`, async (request, reply) => {
    const token = request.params.token;
    let resolved;
    try {
      resolved = TOKEN.test(token)
        ? await transport.request(
            ConnectionsV1.resolveView,
            { token, kind: 'live' },
            { principal: { kind: 'operator' } },
          )
        : { lease: undefined };
    } catch {
      sendPage(reply, 503, endedPage('Live view unavailable', 'The platform could not be reached; try again.'));
      return;
    }
    if (!resolved.lease) {
      sendPage(
        reply,
        404,
        endedPage('Live view unavailable', 'This live-view link is invalid, has expired or was revoked.'),
      );
      return;
    }
    sendPage(reply, 200, liveViewHtml());
  });
}

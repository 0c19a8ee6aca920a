import { CdpSession } from '@bctrl/cdp-client';
import type { ProxyCredentials, RunEvent } from '@bctrl/contracts';

/** Typed by the catalogue, spelled here: the agent loads nothing of @bctrl/contracts at run time (see agent-env). */
export const PROXY_AUTH_FAILED: typeof RunEvent.proxyAuthFailed = 'proxy.auth_failed';

/** Refusals closer together than this make one event (a page load refused makes dozens at once). */
export const AUTH_FAILED_EVENT_INTERVAL_MS = 5_000;

/**
 * Paused requests: every one of the browser's requests, since Chromium hands a challenge to DevTools only for a
 * request paused at its request stage (`handleAuthRequests` refuses empty patterns, and a challenge of a request
 * matched only at its response stage falls through to Chromium's default, which fails it). Each pause costs one
 * round trip to this agent on loopback; `npm run bench:proxy-auth` measures it.
 */
const EVERY_REQUEST = [{ urlPattern: '*', requestStage: 'Request' }];

interface AuthRequired {
  requestId: string;
  request: { url: string };
  authChallenge: { source?: 'Server' | 'Proxy'; origin: string; scheme: string; realm: string };
}

/**
 * Answers the proxy's authentication challenges inside the runtime: browser-wide Fetch interception (the browser
 * target's Fetch domain sees the requests of every page, worker and service worker, in every browser context), a
 * paused request continued at once, a proxy's challenge answered with the credentials, once per request. A proxy
 * that asks again after them refused them: the request is left to Chromium's default, which fails it with
 * net::ERR_INVALID_AUTH_CREDENTIALS (the navigation error a client sees), and `onRefused` is told. A website's own
 * challenge is never ours to answer: it falls through to whatever else handles it (the client's own Fetch).
 */
export class ProxyAuthenticator {
  private cdp: CdpSession | null = null;
  private readonly answered = new Set<string>();
  private pending: { url: string; failures: number } | null = null;
  private lastEventAt = 0;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly credentials: ProxyCredentials,
    private readonly proxy: string,
    private readonly onRefused: (data: { proxy: string; url: string; failures: number }) => void,
  ) {}

  /** Resolves once interception is on: after it, no request of the browser can meet the proxy unanswered. */
  async attach(cdpUrl: string): Promise<void> {
    const cdp = await CdpSession.connect(cdpUrl);
    this.cdp = cdp;
    cdp.on('Fetch.requestPaused', (params) => {
      // The hot path: one write back, nothing else.
      cdp.post('Fetch.continueRequest', { requestId: params['requestId'] });
    });
    cdp.on('Fetch.authRequired', (params) => this.onAuthRequired(params as unknown as AuthRequired));
    await cdp.send('Fetch.enable', { handleAuthRequests: true, patterns: EVERY_REQUEST });
  }

  close(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flush();
    this.cdp?.close();
    this.cdp = null;
  }

  private onAuthRequired(event: AuthRequired): void {
    const { requestId } = event;
    if (event.authChallenge.source !== 'Proxy') return this.respond(requestId, { response: 'Default' });
    if (!this.answered.has(requestId)) {
      // Chromium remembers accepted credentials and sends them unasked: few requests are ever challenged.
      if (this.answered.size > 10_000) this.answered.clear();
      this.answered.add(requestId);
      return this.respond(requestId, {
        response: 'ProvideCredentials',
        username: this.credentials.username,
        password: this.credentials.password,
      });
    }
    // Asked again after the credentials: refused. Chromium's default fails the request.
    this.answered.delete(requestId);
    this.respond(requestId, { response: 'Default' });
    this.refused(event.request.url);
  }

  private respond(requestId: string, authChallengeResponse: Record<string, string>): void {
    this.cdp?.post('Fetch.continueWithAuth', { requestId, authChallengeResponse });
  }

  private refused(url: string): void {
    if (this.pending) this.pending.failures += 1;
    else this.pending = { url, failures: 1 };
    const wait = this.lastEventAt + AUTH_FAILED_EVENT_INTERVAL_MS - Date.now();
    if (wait <= 0) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.flushTimer = null;
    if (!this.pending) return;
    const { url, failures } = this.pending;
    this.pending = null;
    this.lastEventAt = Date.now();
    this.onRefused({ proxy: this.proxy, url, failures });
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { WEBDRIVER_PATH_PREFIX, type WebDriverRelay } from '../webdriver/webdriver-relay';
import type { ProxyRoute } from './proxy-route';

/** `/v1/webdriver/<token>/…`: W3C WebDriver over HTTP, relayed to the runtime agent's chromedriver. */
export class WebDriverRoute implements ProxyRoute {
  readonly prefix = WEBDRIVER_PATH_PREFIX;
  readonly refusal = 'WebDriver connections speak HTTP, not WebSocket.';
  readonly unavailable = "The runtime's WebDriver relay did not answer.";

  constructor(private readonly relay: WebDriverRelay) {}

  request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.relay.handle(req, res);
  }
}

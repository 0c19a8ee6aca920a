import { connect, createServer, type Server } from 'node:net';

/**
 * Chromium's DevTools endpoint listens on 127.0.0.1 only (headless=new ignores `--remote-debugging-address`). In a
 * pod that is the pod's own loopback, which nothing outside the pod can reach: cdp-proxy dialing the URL Chromium
 * prints would dial its own loopback. This forwards a port on the agent's address to that endpoint, byte for byte,
 * so the platform reaches the browser at `<podIP>:<port>`. Like Chromium's own endpoint it takes no token: who may
 * open it is the NetworkPolicy's business (cdp-proxy and the orchestrator only).
 *
 * Connections that arrive before Chromium listens are closed: the driver hands the URL out only once the agent is
 * ready. Chromium checks the Host header of DevTools HTTP requests, and an IP address (the pod's) passes.
 */
export function forwardCdp(host: string, port: number, devtoolsUrl: Promise<string>): Server {
  let target: number | undefined;
  devtoolsUrl.then(
    (url) => (target = Number(new URL(url).port)),
    () => undefined, // Chromium never listened: the agent fails on its own
  );
  return createServer({ noDelay: true }, (client) => {
    if (target === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect({ port: target, host: '127.0.0.1', noDelay: true });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream).pipe(client);
  }).listen(port, host);
}

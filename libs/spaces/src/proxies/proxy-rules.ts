import type { ErrorDetail } from '@bctrl/core';

export const PROXY_SCHEMES = ['http', 'https', 'socks5'] as const;
export const BYPASS_MAX_ENTRIES = 100;
const BYPASS_ENTRY_MAX_LENGTH = 253;
const USERNAME_MAX_LENGTH = 256;

const SERVER =
  /^(?<scheme>[A-Za-z][A-Za-z0-9+.-]*):\/\/(?<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?<port>\d{1,5})\/?$/;
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
// One rule of Chromium's --proxy-bypass-list: `[scheme://]host-pattern[:port]`, an IP or CIDR range, or one of its
// special rules. Separators (`;`, `,`), spaces and controls would split or smuggle rules, so none may appear.
const BYPASS_RULE =
  /^(?:<local>|<-loopback>|(?:[a-z][a-z0-9+.-]*:\/\/)?(?:\*|\*?\.?[A-Za-z0-9*_-]+(?:\.[A-Za-z0-9*_-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/\d{1,3})?)$/;

/** A server as stored: `scheme://host:port`, scheme and host lowercased. */
export function normalizeServer(server: string): string {
  const match = SERVER.exec(server.trim());
  if (!match?.groups) return server;
  const { scheme, host, port } = match.groups as { scheme: string; host: string; port: string };
  return `${scheme.toLowerCase()}://${host.toLowerCase()}:${Number(port)}`;
}

export function schemeOf(server: string): string {
  return server.slice(0, Math.max(0, server.indexOf('://'))).toLowerCase();
}

/**
 * `http://host:port`, `https://host:port` or `socks5://host:port` and nothing else: no credentials (they are the
 * proxy's `username` and vault secret), no path, query or fragment, an explicit port.
 */
export function checkServer(server: string): ErrorDetail[] {
  const issue = (text: string): ErrorDetail[] => [{ field: 'server', issue: text }];
  const form = 'must be http://host:port, https://host:port or socks5://host:port';
  const match = SERVER.exec(server.trim());
  if (!match?.groups) return issue(form);
  const { scheme, host, port } = match.groups as { scheme: string; host: string; port: string };
  if (!(PROXY_SCHEMES as readonly string[]).includes(scheme.toLowerCase())) {
    return issue(`scheme must be http, https or socks5, not ${scheme}`);
  }
  const portNumber = Number(port);
  if (portNumber < 1 || portNumber > 65535) return issue('port must be from 1 to 65535');
  if (!host.startsWith('[')) {
    const labels = host.split('.');
    if (host.length > 253 || labels.some((label) => !LABEL.test(label))) return issue(`${form}: bad host ${host}`);
  }
  return [];
}

export function checkBypass(bypass: readonly string[]): ErrorDetail[] {
  if (bypass.length > BYPASS_MAX_ENTRIES) {
    return [{ field: 'bypass', issue: `must have at most ${BYPASS_MAX_ENTRIES} entries` }];
  }
  const details: ErrorDetail[] = [];
  bypass.forEach((entry, index) => {
    if (entry.length === 0 || entry.length > BYPASS_ENTRY_MAX_LENGTH || !BYPASS_RULE.test(entry)) {
      details.push({
        field: 'bypass',
        issue: `entry ${index + 1} is not a host pattern like *.internal, 10.0.0.0/8 or <local>`,
      });
    }
  });
  return details;
}

export function checkUsername(username: string): ErrorDetail[] {
  if (username.length > USERNAME_MAX_LENGTH) {
    return [{ field: 'username', issue: `must be at most ${USERNAME_MAX_LENGTH} characters` }];
  }
  // Basic authentication sends `user:password`: a colon would move part of the name into the password.
  // eslint-disable-next-line no-control-regex
  if (/[:\u0000-\u001f\u007f]/.test(username)) {
    return [{ field: 'username', issue: 'must not contain a colon or control characters' }];
  }
  return [];
}

/** Credentials come as a pair, and never with SOCKS5 (Chromium cannot authenticate to a SOCKS5 proxy). */
export function checkCredentials(server: string, username: string, passwordSecretId: string): ErrorDetail[] {
  if (username && !passwordSecretId) return [{ field: 'passwordSecretId', issue: 'is required with a username' }];
  if (!username && passwordSecretId) return [{ field: 'username', issue: 'is required with a passwordSecretId' }];
  if (username && schemeOf(server) === 'socks5') {
    return [
      {
        field: 'server',
        issue:
          'a socks5 proxy cannot have a username or password: Chromium cannot authenticate to SOCKS5 proxies ' +
          '(use an http or https proxy for credentials)',
      },
    ];
  }
  return [];
}

import { agentWebDriverToken } from '@bctrl/contracts';
import { AgentConfigError, ENV, readAgentConfig, webDriverToken } from './agent-env';

const base = { [ENV.token]: 'a'.repeat(32) };

describe('readAgentConfig launch config', () => {
  it('records unless the launch config says recording: false', () => {
    expect(readAgentConfig({ ...base }).launch.recording).toBeUndefined();
    expect(readAgentConfig({ ...base, [ENV.launchConfig]: '{"recording":true}' }).launch.recording).toBe(true);
    expect(readAgentConfig({ ...base, [ENV.launchConfig]: '{"recording":false}' }).launch.recording).toBe(false);
  });

  it('refuses a recording flag that is not a boolean', () => {
    expect(() => readAgentConfig({ ...base, [ENV.launchConfig]: '{"recording":"no"}' })).toThrow(
      new AgentConfigError(`${ENV.launchConfig}.recording must be a boolean`),
    );
  });
});

describe('readAgentConfig CDP forward', () => {
  it('forwards CDP only when a port is given, and refuses one that is not a port', () => {
    expect(readAgentConfig({ ...base }).cdpPort).toBeUndefined();
    expect(readAgentConfig({ ...base, [ENV.cdpPort]: '9222' }).cdpPort).toBe(9222);
    for (const bad of ['0', '70000', 'x', '92.5']) {
      expect(() => readAgentConfig({ ...base, [ENV.cdpPort]: bad })).toThrow(
        new AgentConfigError(`${ENV.cdpPort} must be a port number, got ${JSON.stringify(bad)}`),
      );
    }
  });
});

describe('readAgentConfig chromedriver', () => {
  it("uses Debian's chromedriver unless CHROMEDRIVER_PATH names another", () => {
    expect(readAgentConfig({ ...base }).chromedriverPath).toBe('/usr/bin/chromedriver');
    expect(readAgentConfig({ ...base, [ENV.chromedriverPath]: '/opt/cd' }).chromedriverPath).toBe('/opt/cd');
  });
});

describe('webDriverToken', () => {
  it('derives the same token as the contract, and not the agent token itself', () => {
    const token = 'b'.repeat(32);
    expect(webDriverToken(token)).toBe(agentWebDriverToken(token));
    expect(webDriverToken(token)).not.toBe(token);
    expect(webDriverToken(`${token}x`)).not.toBe(webDriverToken(token));
  });
});

describe('readAgentConfig proxy', () => {
  const proxy = (value: unknown) => ({ ...base, [ENV.launchConfig]: JSON.stringify({ proxy: value }) });

  it('takes a server and bypass rules, and the credentials from the launch line or the pod Secret variable', () => {
    const config = readAgentConfig(proxy({ server: 'http://p.example:3128', bypass: ['*.internal'] }), {
      username: 'u',
      password: 'p',
    });
    expect(config.launch.proxy).toEqual({ server: 'http://p.example:3128', bypass: ['*.internal'] });
    expect(config.proxyCredentials).toEqual({ username: 'u', password: 'p' });
    const fromEnv = readAgentConfig({
      ...proxy({ server: 'socks5://10.0.0.1:1080' }),
      [ENV.proxyCredentials]: '{"username":"a","password":"b"}',
    });
    expect(fromEnv.proxyCredentials).toEqual({ username: 'a', password: 'b' });
    expect(readAgentConfig(proxy({ server: 'https://p.example:443' })).proxyCredentials).toBeUndefined();
  });

  it('refuses a server or a bypass rule that could smuggle another Chromium switch', () => {
    for (const server of ['ftp://p:21', 'http://p:80 --no-sandbox', 'http://u:pw@p:80', 'http://p', 'http://p:1/x']) {
      expect(() => readAgentConfig(proxy({ server }))).toThrow(AgentConfigError);
    }
    for (const rule of ['a b', 'a;b', 'a,b', '', 'a\nb']) {
      expect(() => readAgentConfig(proxy({ server: 'http://p:1', bypass: [rule] }))).toThrow(AgentConfigError);
    }
  });

  it('refuses credentials without a proxy, or without both parts, never quoting them', () => {
    expect(() => readAgentConfig({ ...base }, { username: 'u', password: 'secret-1' })).toThrow(AgentConfigError);
    for (const bad of [{ username: 'u' }, { username: '', password: 'secret-2' }, '{not json secret-3']) {
      const attempt = () => readAgentConfig(proxy({ server: 'http://p:1' }), bad);
      expect(attempt).toThrow(AgentConfigError);
      expect(attempt).not.toThrow(/secret-/);
    }
  });
});

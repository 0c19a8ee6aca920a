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

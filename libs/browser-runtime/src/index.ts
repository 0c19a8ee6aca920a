export { runAgent, AGENT_EXIT, AGENT_STATE_FILE, type AgentStateFile } from './lib/agent';
export { readAgentConfig, AgentConfigError, DEFAULT_CHROME_PATH, type AgentConfig } from './lib/agent-env';
export { chromiumArgs, CHROMIUM_FLAGS } from './lib/chromium';
export { ProxyAuthenticator, PROXY_AUTH_FAILED } from './lib/proxy-auth';

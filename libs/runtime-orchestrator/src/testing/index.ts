/**
 * The orchestrator's test doubles, for other projects' tests (the e2e suites): a fake Kubernetes API server that
 * speaks the real pods REST and watch protocol, a fake kubelet that runs real agents for its pods, and the scripted
 * driver. Imported as `@bctrl/runtime-orchestrator/testing`, never from product code.
 */
export * from './fake-kubernetes-api.server';
export * from './fake-kubelet';
export * from './scripted-browser.driver';
export * from './browser-driver.conformance';

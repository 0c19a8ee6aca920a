import { defineService } from '@bctrl/service';

/**
 * invocation-worker, for its own app and for local mode. It joins the transport and answers health; its settings,
 * tables and modules arrive with the issue that builds hosted invocations.
 */
export const invocationWorkerService = defineService({
  name: 'invocation-worker',
  settings: {},
  ownsTables: false,
  adapters: { distributed: () => undefined, local: () => undefined },
  modules: () => [],
});

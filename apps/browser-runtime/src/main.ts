import { runAgent } from '@bctrl/browser-runtime';

// No Nest, no transport, no telemetry SDK: browser pods have no route to the platform's internals, and every
// millisecond before Chromium is spawned counts against cold start. runAgent spawns Chromium first.
runAgent();

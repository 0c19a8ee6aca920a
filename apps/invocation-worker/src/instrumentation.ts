import { startTelemetry } from '@bctrl/telemetry';

// Must run before Nest and the drivers are imported, so every span they start has a provider behind it.
startTelemetry({ serviceName: process.env.OTEL_SERVICE_NAME ?? 'invocation-worker' });

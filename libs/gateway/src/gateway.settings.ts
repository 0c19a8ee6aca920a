import { pickSettings, platformSettings } from '@bctrl/config';

/** The gateway's own settings: the public HTTP surface, and where it forwards CDP and storage bytes. No database and
 * no object store: it only talks to the other services. */
export const gatewaySettings = pickSettings(
  platformSettings,
  'mode',
  'host',
  'port',
  'publicUrl',
  'maxBodyBytes',
  'rateLimitPerSecond',
  'redisUrl',
  'natsUrl',
  'storageUrl',
  'cdpProxyUrl',
  'artifactContentRedirect',
  'logLevel',
  'otelExporterOtlpEndpoint',
  'otelServiceName',
);

import type { BrowserLaunchConfig, runtimesV1 } from '@bctrl/contracts';
import { assertValid, ErrorDetail } from '@bctrl/core';

export const VIEWPORT_LIMITS = { minWidth: 100, maxWidth: 7680, minHeight: 100, maxHeight: 4320 } as const;
const LOCALE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
// eslint-disable-next-line no-control-regex
const PRINTABLE = /^[^\u0000-\u001f\u007f]+$/;

export function isTimezone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a runtime's config as the orchestrator receives it. The gateway checks shapes first; this is the
 * service not trusting the bus, and the place where references to other resources are resolved.
 */
export function checkRuntimeConfig(config: runtimesV1.RuntimeConfig, limits: { maxTimeoutSeconds: number }): void {
  const details: ErrorDetail[] = [];
  if (config.type !== 'browser') details.push({ field: 'type', issue: 'must be "browser"' });
  if (config.timeoutSeconds < 10 || config.timeoutSeconds > limits.maxTimeoutSeconds) {
    details.push({ field: 'timeoutSeconds', issue: `must be from 10 to ${limits.maxTimeoutSeconds}` });
  }
  if (
    config.idleTimeoutSeconds !== 0 &&
    (config.idleTimeoutSeconds < 10 || config.idleTimeoutSeconds > config.timeoutSeconds)
  ) {
    details.push({ field: 'idleTimeoutSeconds', issue: 'must be from 10 to timeoutSeconds' });
  }
  const viewport = config.viewport;
  if (
    viewport &&
    (viewport.width < VIEWPORT_LIMITS.minWidth ||
      viewport.width > VIEWPORT_LIMITS.maxWidth ||
      viewport.height < VIEWPORT_LIMITS.minHeight ||
      viewport.height > VIEWPORT_LIMITS.maxHeight)
  ) {
    details.push({ field: 'viewport', issue: 'must be between 100×100 and 7680×4320' });
  }
  if (config.userAgent && (config.userAgent.length > 512 || !PRINTABLE.test(config.userAgent))) {
    details.push({ field: 'userAgent', issue: 'must be at most 512 printable characters' });
  }
  if (config.locale && !LOCALE.test(config.locale))
    details.push({ field: 'locale', issue: 'must be a BCP 47 tag like en-US' });
  if (config.timezone && !isTimezone(config.timezone))
    details.push({ field: 'timezone', issue: 'must be an IANA time zone like Europe/Paris' });
  // Profiles and extensions are configuration resources no API creates yet: any reference is unknown. A proxy is
  // resolved through the spaces service (RuntimesService.create), which answers for an unknown or foreign one.
  if (config.profileId) details.push({ field: 'profileId', issue: 'no such profile' });
  if (config.persistProfile && !config.profileId) details.push({ field: 'persistProfile', issue: 'needs a profileId' });
  config.extensionIds.forEach((id) => details.push({ field: 'extensionIds', issue: `no such extension: ${id}` }));
  assertValid(details);
}

/** The launch config the agent gets; `proxy` is the resolved proxy's server and bypass rules (never credentials). */
export function launchConfigOf(
  config: runtimesV1.RuntimeConfig,
  proxy?: { server: string; bypass: string[] },
): BrowserLaunchConfig {
  return {
    ...(config.viewport ? { viewport: { width: config.viewport.width, height: config.viewport.height } } : {}),
    ...(config.userAgent ? { userAgent: config.userAgent } : {}),
    ...(config.locale ? { locale: config.locale } : {}),
    ...(config.timezone ? { timezone: config.timezone } : {}),
    // The agent records unless told not to (the gateway defaults `recording` to true).
    ...(config.recording ? {} : { recording: false }),
    ...(proxy ? { proxy: { server: proxy.server, bypass: [...proxy.bypass] } } : {}),
  };
}

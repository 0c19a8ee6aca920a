import { runServiceProcess } from '@bctrl/service';

/** Joins the transport and answers health; its routes and handlers arrive with the issues that build them. */
export function bootstrap() {
  // No settings of its own yet: those of every service process.
  return runServiceProcess({ service: 'invocation-worker', settings: {} });
}

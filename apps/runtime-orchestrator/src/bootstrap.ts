import { runServiceProcess } from '@bctrl/service';

/** Joins the transport and answers health; its routes and handlers arrive with the issues that build them. */
export function bootstrap() {
  return runServiceProcess({ service: 'runtime-orchestrator' });
}

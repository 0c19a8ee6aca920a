import { describeBrowserDriverConformance } from './browser-driver.conformance';
import { ScriptedBrowserDriver } from './scripted-browser.driver';

/** The test double the orchestrator specs run on keeps the same promises as the real drivers. */
describe('ScriptedBrowserDriver conformance', () => {
  describeBrowserDriverConformance(async () => {
    const driver = new ScriptedBrowserDriver();
    return {
      driver,
      crash: async (ref) => driver.emitExit({ ref, reason: 'crashed', detail: 'scripted crash' }),
      running: async () => driver.runningBrowsers().length,
      close: async () => undefined,
    };
  });
});

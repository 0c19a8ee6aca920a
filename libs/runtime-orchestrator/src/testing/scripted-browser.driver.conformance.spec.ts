import { describeBrowserDriverConformance } from './browser-driver.conformance';
import { ScriptedBrowserDriver } from './scripted-browser.driver';

/** The test double the orchestrator specs run on keeps the same promises as the real drivers. */
describe('ScriptedBrowserDriver conformance', () => {
  describeBrowserDriverConformance(() => {
    const driver = new ScriptedBrowserDriver();
    return {
      driver,
      crash: (ref) => driver.emitExit({ ref, reason: 'crashed', detail: 'scripted crash' }),
      running: () => driver.runningBrowsers().length,
      close: () => undefined,
    };
  });
});

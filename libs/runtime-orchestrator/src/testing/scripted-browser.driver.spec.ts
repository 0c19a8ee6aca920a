import { ScriptedBrowserDriver } from './scripted-browser.driver';

describe('ScriptedBrowserDriver', () => {
  it('rejects adopting a pooled browser that died, never throwing synchronously (the orchestrator chains .catch)', async () => {
    const driver = new ScriptedBrowserDriver();
    const pooled = await driver.launchPooled();
    driver.emitExit({ ref: pooled.ref, reason: 'crashed', detail: 'died in the pool' });
    const spec = { runtimeId: 'rt_adopt', spaceId: 'spc_1', accountId: 'acc_1', timeoutSeconds: 60, config: {} };

    let adopting: Promise<unknown> | undefined;
    expect(() => {
      adopting = driver.adopt(pooled, spec);
    }).not.toThrow();
    await expect(adopting).rejects.toThrow(`pooled browser ${pooled.ref} is not running`);
    expect(driver.adoptions).toEqual([{ ref: pooled.ref, runtimeId: 'rt_adopt' }]);
  });
});

import { discardBrowser } from './browser-driver';

describe('discardBrowser', () => {
  it('logs a destroy that failed, naming the browser and why it was discarded, and does not throw', async () => {
    const errors: string[] = [];
    const driver = { destroy: () => Promise.reject(new Error('apiserver unreachable')) };
    await expect(
      discardBrowser(driver, 'bctrl-rt-1', { error: (m) => errors.push(m) }, 'the pool closed'),
    ).resolves.toBe(undefined);
    expect(errors).toEqual([
      'could not destroy browser bctrl-rt-1 (the pool closed); it may still be running: Error: apiserver unreachable',
    ]);
  });

  it('logs nothing when the browser was destroyed', async () => {
    const errors: string[] = [];
    const destroyed: string[] = [];
    const driver = {
      destroy: (ref: string) => {
        destroyed.push(ref);
        return Promise.resolve();
      },
    };
    await discardBrowser(driver, '4242', { error: (m) => errors.push(m) }, 'stopped while starting');
    expect([destroyed, errors]).toEqual([['4242'], []]);
  });
});

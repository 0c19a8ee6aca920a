import { chromiumArgs } from './chromium';

const options = { chromePath: '/usr/lib/chromium/chromium', config: {}, workDir: '/work', markerArgs: [] };

describe('chromiumArgs', () => {
  it('turns Chromium’s sandbox off only when asked (as root, or where the pod is the sandbox)', () => {
    expect(chromiumArgs({ ...options, noSandbox: true }, '/work/user-data')).toContain('--no-sandbox');
    expect(chromiumArgs({ ...options, noSandbox: false }, '/work/user-data')).not.toContain('--no-sandbox');
  });
});

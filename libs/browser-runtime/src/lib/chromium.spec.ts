import { chromiumArgs, chromiumEndReason } from './chromium';

const options = { chromePath: '/usr/lib/chromium/chromium', config: {}, workDir: '/work', markerArgs: [] };

describe('chromiumArgs', () => {
  it('turns Chromium’s sandbox off only when asked (as root, or where the pod is the sandbox)', () => {
    expect(chromiumArgs({ ...options, noSandbox: true }, '/work/user-data')).toContain('--no-sandbox');
    expect(chromiumArgs({ ...options, noSandbox: false }, '/work/user-data')).not.toContain('--no-sandbox');
  });
});

describe('chromiumEndReason', () => {
  const enoent = Object.assign(new Error('spawn /opt/chromium ENOENT'), { code: 'ENOENT' });

  it('names the path and the Debian package when the executable is missing', () => {
    expect(chromiumEndReason('/opt/none/chromium', { code: null, signal: null, spawnError: enoent }, '')).toBe(
      'Chromium not found at /opt/none/chromium (install it: apt-get install chromium)',
    );
  });

  it('quotes the exit code or signal and the last stderr lines that are not D-Bus noise', () => {
    const stderr = [
      'line 1',
      'line 2',
      '[1:1:1208/025751.813122:ERROR:dbus/bus.cc:405] Failed to connect to the bus',
      'line 3',
      'line 4',
      'line 5',
      'line 6',
      '',
    ].join('\n');
    expect(chromiumEndReason('/c', { code: 3, signal: null }, stderr)).toBe(
      'Chromium exited with code 3: line 2\nline 3\nline 4\nline 5\nline 6',
    );
    expect(chromiumEndReason('/c', { code: null, signal: 'SIGSEGV' }, '')).toBe('Chromium exited on signal SIGSEGV');
  });
});

describe('chromiumArgs proxy', () => {
  it('passes the proxy server and its bypass rules, and nothing of credentials', () => {
    const config = { proxy: { server: 'http://p.example:3128', bypass: ['<-loopback>', '*.internal'] } };
    const args = chromiumArgs({ ...options, config, noSandbox: false }, '/work/user-data');
    expect(args).toContain('--proxy-server=http://p.example:3128');
    expect(args).toContain('--proxy-bypass-list=<-loopback>;*.internal');
    const bare = chromiumArgs({ ...options, config: { proxy: { server: 'socks5://s:1080' } }, noSandbox: false }, '/w');
    expect(bare).toContain('--proxy-server=socks5://s:1080');
    expect(bare.some((arg) => arg.startsWith('--proxy-bypass-list'))).toBe(false);
  });
});

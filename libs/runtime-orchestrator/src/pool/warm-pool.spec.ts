import { poolCanServe } from './warm-pool';

describe('poolCanServe', () => {
  it('serves the default config, never a runtime with a proxy (a Chromium launch flag a running browser lacks)', () => {
    expect(poolCanServe({})).toBe(true);
    expect(poolCanServe({ proxy: { server: 'http://proxy.example.com:3128' } })).toBe(false);
    expect(poolCanServe({ proxy: { server: 'socks5://proxy.example.com:1080', bypass: [] } })).toBe(false);
  });
});

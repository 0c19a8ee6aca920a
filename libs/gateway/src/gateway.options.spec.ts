import { gatewayOptions } from './gateway.options';
import { InMemoryIdempotencyStore } from './idempotency/idempotency.store';
import { InMemoryRateLimiter, UnlimitedRateLimiter } from './rate-limit/rate-limiter';

describe('gatewayOptions', () => {
  const settings = { rateLimitPerSecond: 50, publicUrl: 'https://bctrl.example.com', artifactContentRedirect: true };

  it("builds the mode's own rate limiter with the configured limit, and none when the limit is 0", () => {
    const asked: number[] = [];
    const adapters = {
      idempotencyStore: new InMemoryIdempotencyStore(),
      rateLimiter: (perSecond: number) => (asked.push(perSecond), new InMemoryRateLimiter(perSecond)),
    };
    expect(gatewayOptions(settings, adapters).rateLimiter).toBeInstanceOf(InMemoryRateLimiter);
    expect(gatewayOptions({ ...settings, rateLimitPerSecond: 0 }, adapters).rateLimiter).toBeInstanceOf(
      UnlimitedRateLimiter,
    );
    expect(asked).toEqual([50]);
  });

  it('takes the public URL from the settings unless the composition fixes it, and passes the redirect setting on', () => {
    const idempotencyStore = new InMemoryIdempotencyStore();
    const rateLimiter = (perSecond: number) => new InMemoryRateLimiter(perSecond);
    const own = gatewayOptions(settings, { idempotencyStore, rateLimiter });
    expect(own).toMatchObject({ publicUrl: { value: 'https://bctrl.example.com' }, artifactContentRedirect: true });
    const fixed = { value: 'http://127.0.0.1:41234' };
    expect(gatewayOptions(settings, { idempotencyStore, rateLimiter, publicUrl: fixed }).publicUrl).toBe(fixed);
  });
});

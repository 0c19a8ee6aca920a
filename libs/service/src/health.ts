import { Injectable } from '@nestjs/common';

export type DependencyCheck = () => Promise<unknown>;

const CHECK_TIMEOUT_MS = 2_000;

/**
 * Each module registers the outside systems it cannot work without (Postgres, NATS, Redis …);
 * /readyz and the transport health call report them all.
 */
@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, DependencyCheck>();

  add(name: string, check: DependencyCheck): void {
    this.checks.set(name, check);
  }

  async run(): Promise<{ ready: boolean; dependencies: Record<string, boolean> }> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            check(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
            }),
          ]);
          return [name, true] as const;
        } catch {
          return [name, false] as const;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const dependencies = Object.fromEntries(entries);
    return { ready: entries.every(([, ok]) => ok), dependencies };
  }
}

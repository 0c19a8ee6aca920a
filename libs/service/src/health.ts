import { Injectable } from '@nestjs/common';

export type DependencyCheck = () => Promise<unknown>;

const CHECK_TIMEOUT_MS = 2_000;

/**
 * Each module registers the outside systems it cannot work without (Postgres, NATS, Redis …);
 * /readyz and the transport health call report them all.
 */
@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, { check: DependencyCheck; peer: boolean }>();

  add(name: string, check: DependencyCheck): void {
    this.checks.set(name, { check, peer: false });
  }

  /**
   * Another service this one needs. /readyz asks it; the transport health answer does not, because the
   * peer may ask back (in local mode every service shares this registry) and readiness must not recurse.
   */
  addPeer(name: string, check: DependencyCheck): void {
    this.checks.set(name, { check, peer: true });
  }

  async run(
    options: { peers: boolean } = { peers: true },
  ): Promise<{ ready: boolean; dependencies: Record<string, boolean> }> {
    const selected = [...this.checks].filter(([, entry]) => options.peers || !entry.peer);
    const entries = await Promise.all(
      selected.map(async ([name, { check }]) => {
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

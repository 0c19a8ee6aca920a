import { readdirSync, readFileSync } from 'node:fs';

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

function processes(): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[0] === 'X') continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      found.push({ pid: Number(entry), ppid: Number(fields[1]), argv });
    } catch {
      // ended while we looked
    }
  }
  return found;
}

/** Chromium main processes (not its helpers) started by any BCTRL driver on this machine. */
export function bctrlChromiums(): Proc[] {
  return processes().filter(
    (p) =>
      p.argv.some((arg) => arg.startsWith('--user-data-dir=') && arg.includes('bctrl-browsers')) &&
      !p.argv.some((arg) => arg.startsWith('--type=')),
  );
}

/** The Chromium of one runtime: its browser process, which carries the runtime's marker the agent handed on. */
export function chromiumOf(runtimeId: string): Proc | undefined {
  return processes().find(
    (p) =>
      p.argv.includes(`--bctrl-runtime=${runtimeId}`) &&
      p.argv.some((arg) => arg.startsWith('--user-data-dir=')) &&
      !p.argv.some((arg) => arg.startsWith('--type=')),
  );
}

/** Chromium main processes of one installation. */
export function chromiumsOf(installationId: string): Proc[] {
  return bctrlChromiums().filter((p) => p.argv.some((arg) => arg.includes(`/bctrl-browsers/${installationId}/`)));
}

/**
 * An installation id for one platform a test starts. Every id of a jest run shares the run's prefix, so the
 * end-of-run check finds exactly this run's browsers, whatever else runs on the machine.
 */
export function testInstallationId(label: string): string {
  return `${testRunPrefix()}${label}-${Math.random().toString(36).slice(2, 8)}`;
}

export function testRunPrefix(): string {
  return `jest-${process.env.BCTRL_TEST_RUN_STARTED_AT ?? 'adhoc'}-`;
}

/** Chromium main processes started by this jest run's platforms. */
export function chromiumsOfThisRun(): Proc[] {
  const marker = `--bctrl-instance=${testRunPrefix()}`;
  return bctrlChromiums().filter((p) => p.argv.some((arg) => arg.startsWith(marker)));
}

/** Every process of one installation, idle standby agents included: agents and Chromium with all its helpers. */
export function processesOfInstallation(installationId: string): Proc[] {
  return processes().filter(
    (p) =>
      p.argv.includes(`--bctrl-instance=${installationId}`) ||
      p.argv.some((arg) => arg.startsWith('--user-data-dir=') && arg.includes(`/bctrl-browsers/${installationId}/`)),
  );
}

/**
 * The browser-runtime agents of one installation that hold a browser, with the runtime each serves (from the state
 * file the agent keeps in its work dir); an idle standby agent has none yet and is left out.
 */
export function agentsOf(installationId: string): (Proc & { runtimeId: string })[] {
  return processesOfInstallation(installationId).flatMap((p) => {
    if (p.argv.some((arg) => arg.startsWith('--user-data-dir=') || arg.startsWith('--type='))) return [];
    try {
      const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
      const workDir = environ.find((pair) => pair.startsWith('BCTRL_WORK_DIR='))?.slice('BCTRL_WORK_DIR='.length);
      const state = JSON.parse(readFileSync(`${workDir}/agent.json`, 'utf8')) as { runtimeId?: string };
      return [{ ...p, runtimeId: state.runtimeId ?? '' }];
    } catch {
      // A standby without a browser yet, or one that ended while we looked.
      return [];
    }
  });
}

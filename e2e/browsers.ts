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

/** The Chromium of one runtime: the browser process whose parent is the agent marked with the runtime id. */
export function chromiumOf(runtimeId: string): Proc | undefined {
  const all = processes();
  const agent = all.find((p) => p.argv.includes(`--bctrl-runtime=${runtimeId}`));
  if (!agent) return undefined;
  return all.find((p) => p.ppid === agent.pid && !p.argv.some((arg) => arg.startsWith('--type=')));
}

export function agentOf(runtimeId: string): Proc | undefined {
  return processes().find((p) => p.argv.includes(`--bctrl-runtime=${runtimeId}`));
}

/** Chromium main processes of one installation. */
export function chromiumsOf(installationId: string): Proc[] {
  return bctrlChromiums().filter((p) => p.argv.some((arg) => arg.includes(`/bctrl-browsers/${installationId}/`)));
}

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// CommonJS with no types: it runs before `npm ci` on a fresh machine, with nothing but Node.
const { ensureDebianPackages } = require('./ensure-debian-packages.js') as {
  ensureDebianPackages(names: string[], options?: Record<string, unknown>): number;
};

const REPO_ROOT = resolve(__dirname, '..');
const SCRIPT = join(REPO_ROOT, 'tools', 'ensure-debian-packages.js');

/** A machine where only `present` programs exist (absolute paths and commands on PATH alike). */
function machine(present: string[], env: Record<string, string> = {}) {
  return {
    env,
    isExecutable: (path: string) => present.includes(path),
    onPath: (command: string) => present.includes(command),
  };
}

function ensure(present: string[], options: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const runs: string[][] = [];
  const code = ensureDebianPackages(['chromium', 'chromium-driver'], {
    probe: machine(present),
    run: (command: string, args: string[]) => void runs.push([command, ...args]),
    log: (line: string) => void lines.push(line),
    ...options,
  });
  return { code, lines, runs };
}

describe('ensure-debian-packages', () => {
  it('as root installs exactly the missing packages with apt-get', () => {
    const { code, runs } = ensure(['apt-get', 'chromedriver'], { uid: 0 });
    expect(code).toBe(0);
    expect(runs).toEqual([
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', 'chromium'],
    ]);
  });

  it('not as root prints the exact command; npm start goes on, the tests stop', () => {
    const start = ensure(['apt-get'], { uid: 1000 });
    expect(start.runs).toEqual([]);
    expect(start.code).toBe(0);
    expect(start.lines).toContain('npm start: install them with: sudo apt-get install -y chromium chromium-driver');

    const test = ensure(['apt-get'], { uid: 1000, required: true, label: 'npm test' });
    expect(test.code).toBe(1);
    expect(test.lines).toContain('npm test: install them with: sudo apt-get install -y chromium chromium-driver');
  });

  it('prints the command when apt-get fails as root, and fails the tests', () => {
    const failing = {
      uid: 0,
      required: true,
      run: () => {
        throw new Error('Temporary failure resolving deb.debian.org');
      },
    };
    const { code, lines } = ensure(['apt-get'], failing);
    expect(code).toBe(1);
    expect(lines).toContain('npm start: install them with: sudo apt-get install -y chromium chromium-driver');
  });

  it('does nothing when the packages are there, or CHROME_PATH and CHROMEDRIVER_PATH name the user’s own', () => {
    expect(ensure(['/usr/lib/chromium/chromium', 'chromedriver', 'apt-get'], { uid: 0 })).toEqual({
      code: 0,
      lines: [],
      runs: [],
    });
    const own = machine(['apt-get'], { CHROME_PATH: '/opt/chrome/chrome', CHROMEDRIVER_PATH: '/opt/chromedriver' });
    expect(ensure([], { uid: 0, probe: own })).toEqual({ code: 0, lines: [], runs: [] });
  });

  it('is what npm start (prestart) and npm test (prepare.sh) both run, for the packages each needs', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['prestart']).toContain('node tools/ensure-debian-packages.js chromium chromium-driver');
    const prepare = readFileSync(join(REPO_ROOT, 'tools', 'test', 'prepare.sh'), 'utf8');
    expect(prepare).toContain(
      'node tools/ensure-debian-packages.js --required --for="npm test" redis-server nats-server chromium chromium-driver',
    );
    // No second copy of the rule: prepare.sh no longer calls apt-get itself.
    expect(prepare).not.toContain('apt-get');
  });

  it('runs as a script: on a PATH without chromedriver it asks apt-get for chromium-driver (as root)', () => {
    const bin = mkdtempSync(join(tmpdir(), 'bctrl-apt-'));
    try {
      const calls = join(bin, 'calls');
      writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$@" >> ${calls}\n`);
      chmodSync(join(bin, 'apt-get'), 0o755);
      const result = spawnSync(process.execPath, [SCRIPT, 'chromium-driver'], {
        env: { PATH: bin },
        encoding: 'utf8',
      });
      expect(result.status).toBe(0);
      if (process.getuid?.() === 0) {
        expect(readFileSync(calls, 'utf8')).toBe('update -qq\ninstall -y -qq chromium-driver\n');
      } else {
        expect(result.stderr).toContain('install them with: sudo apt-get install -y chromium-driver');
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

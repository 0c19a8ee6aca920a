// The Debian packages `npm start` and `npm test` need, checked and installed by one rule for both: package.json's
// prestart runs `node tools/ensure-debian-packages.js chromium chromium-driver` (runtimes start Chromium; WebDriver
// connections start chromedriver), and tools/test/prepare.sh runs it with --required and the servers the tests
// start. As root with apt-get it installs what is missing. Otherwise it prints the exact command to run: for the
// tests that is an error (exit 1); `npm start` still starts, and a runtime that cannot start its browser says why.
// Node only, no dependency: it runs on a fresh machine before anything else is there.
const { execFileSync } = require('node:child_process');
const { accessSync, constants } = require('node:fs');
const { delimiter, join } = require('node:path');

/** What counts as installed, per package: its program where Debian puts it, or a setting naming the user's own. */
const PACKAGES = {
  chromium: (probe) => Boolean(probe.env.CHROME_PATH) || probe.isExecutable('/usr/lib/chromium/chromium'),
  'chromium-driver': (probe) => Boolean(probe.env.CHROMEDRIVER_PATH) || probe.onPath('chromedriver'),
  'redis-server': (probe) => probe.onPath('redis-server'),
  // Debian puts it in /usr/sbin, which a non-login PATH may lack.
  'nats-server': (probe) => probe.onPath('nats-server') || probe.isExecutable('/usr/sbin/nats-server'),
};

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks at this machine: its files, and the commands on PATH. */
function machineProbe(env = process.env) {
  return {
    env,
    isExecutable,
    onPath: (command) =>
      (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, command))),
  };
}

function runCommand(command, args) {
  execFileSync(command, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** The packages of `names` that are not installed, in the order asked. */
function missingPackages(names, probe = machineProbe()) {
  for (const name of names) {
    if (!PACKAGES[name]) throw new Error(`unknown package ${name}; known: ${Object.keys(PACKAGES).join(', ')}`);
  }
  return names.filter((name) => !PACKAGES[name](probe));
}

/**
 * Installs the missing packages of `names` where it can (root, with apt-get), else prints the command that would.
 * Returns the exit code: 1 only when `required` packages are still missing.
 */
function ensureDebianPackages(names, options = {}) {
  const {
    label = 'npm start',
    required = false,
    probe = machineProbe(),
    uid = process.getuid?.() ?? -1,
    run = runCommand,
    log = (line) => process.stderr.write(`${line}\n`),
  } = options;
  const missing = missingPackages(names, probe);
  if (missing.length === 0) return 0;
  if (uid === 0 && probe.onPath('apt-get')) {
    log(`${label}: installing ${missing.join(' ')} from Debian`);
    try {
      run('apt-get', ['update', '-qq']);
      run('apt-get', ['install', '-y', '-qq', ...missing]);
      return 0;
    } catch (error) {
      log(`${label}: apt-get could not install them: ${error.message}`);
    }
  }
  log(`${label}: these Debian packages are missing: ${missing.join(' ')}`);
  log(`${label}: install them with: sudo apt-get install -y ${missing.join(' ')}`);
  if (!required) log(`${label}: starting anyway; runtimes cannot start a browser until they are installed`);
  return required ? 1 : 0;
}

module.exports = { PACKAGES, missingPackages, ensureDebianPackages, machineProbe };

if (require.main === module) {
  const args = process.argv.slice(2);
  const label = args.find((arg) => arg.startsWith('--for='))?.slice('--for='.length);
  process.exitCode = ensureDebianPackages(
    args.filter((arg) => !arg.startsWith('--')),
    { required: args.includes('--required'), ...(label ? { label } : {}) },
  );
}

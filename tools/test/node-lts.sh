#!/usr/bin/env bash
# The unit tests and the local-mode end-to-end suite under the current Node LTS, beside the Node 20 the machines
# have (`npm run test:node-lts`; CI runs it after `npm test`, whose build it uses: dist/apps/browser-runtime).
#
# The binary comes from the npm registry, the one place CI reaches: `node-<platform>-<arch>` is the package that
# ships the real executable (`bin/node`). The registry's `node` package is only a shim whose preinstall script
# runs a second `npm install` of that same package, which npm's allowScripts already warns about; installing the
# platform package directly needs no install script. It lands in .cache/node-lts, reused while its version is right.
#
# 26 is the Active LTS line (Node 20 reached its end of life in April 2026). 26.10.0 is the newest 26 build the
# registry serves; a later 26.x LTS build is a change of this one line.
NODE_LTS_VERSION=26.10.0
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=.cache/node-lts
package="node-$(node -p 'process.platform')-$(node -p 'process.arch')"
bin="$dir/node_modules/$package/bin/node"
if [ "$("$bin" --version 2>/dev/null)" != "v$NODE_LTS_VERSION" ]; then
  echo "node-lts: installing $package@$NODE_LTS_VERSION into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$dir" "$package@$NODE_LTS_VERSION" >/dev/null
fi
"$bin" -e "if (process.version !== 'v$NODE_LTS_VERSION') process.exit(1)" || {
  echo "node-lts: $bin does not run as v$NODE_LTS_VERSION" >&2
  exit 1
}
echo "node-lts: $("$bin" --version) ($bin)"

case ":$PATH:" in *":/usr/sbin:"*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac
# Jest's workers, the local platform's runtime agents and every other child started with process.execPath run
# on this binary too. The patterns pick every *.spec.ts of the unit project and the one e2e file: an .int-spec.ts
# or another .e2e-spec.ts matches neither.
exec "$bin" node_modules/.bin/jest --ci --forceExit --selectProjects unit e2e "$@" -- '\.spec\.ts$' '/e2e/local\.e2e-spec\.ts$'

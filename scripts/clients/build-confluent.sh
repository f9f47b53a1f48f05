#!/usr/bin/env bash
# Builds @confluentinc/kafka-javascript (librdkafka and its Node.js addon) from source for the
# Node.js the tests run on, the `node` devDependency (node_modules/.bin/node). Run it after
# `npm ci`; it is quick when the addon is built already and loads.
#
# Why a script: the package's install script first downloads a prebuilt binary from outside
# the package registries, then falls back to a source build that would download librdkafka's
# dependencies and Node.js headers too. Here nothing is downloaded:
#   - librdkafka links the system libraries (CKJS_LINKING=dynamic; see the package's
#     util/configure.js), which come from Debian's packages (installed below when missing);
#   - node-gyp takes Node.js headers from the `node` devDependency (npm_config_nodedir);
#   - the addon is built with the tests' Node.js first on the PATH, so its ABI matches.
# package.json denies the package's own install script (allowScripts), so `npm ci` leaves it
# to this script.
#
# Usage: bash scripts/clients/build-confluent.sh [--force]
#   --force  rebuild even when the addon loads.
# Exits non-zero, saying why, when the client cannot be built.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
package="$root/node_modules/@confluentinc/kafka-javascript"
node="$root/node_modules/.bin/node"
force=false
[ "${1:-}" = "--force" ] && force=true

say() { echo "build-confluent: $*"; }
fail() { say "$*" >&2; exit 1; }

[ -x "$node" ] || fail "no node_modules/.bin/node: run 'npm ci' first"
[ -d "$package" ] || fail "no node_modules/@confluentinc/kafka-javascript: run 'npm ci' first"

loads() {
  (cd "$root" && "$node" -e "const k = require('@confluentinc/kafka-javascript'); if (typeof k.KafkaJS.Kafka !== 'function') process.exit(1); console.log('librdkafka ' + k.librdkafkaVersion + ' on Node.js ' + process.version)") 2>/dev/null
}

if ! $force && built="$(loads)"; then
  say "built already: $built"
  exit 0
fi

# 1. The libraries librdkafka links: headers and pkg-config files of Debian's -dev packages.
debs=(libcurl4-openssl-dev zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev)
missing=()
for deb in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q 'install ok installed' || missing+=("$deb")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    fail "missing Debian packages: ${missing[*]} (apt-get install -y ${missing[*]})"
  fi
fi

# 2. Node.js headers for node-gyp, from the node devDependency: no download.
platform="$("$node" -p 'process.platform + "-" + process.arch')"
nodedir="$root/node_modules/node/node_modules/node-$platform"
if [ ! -f "$nodedir/include/node/common.gypi" ]; then
  # The node package's preinstall puts them there; an `npm install --ignore-scripts` prunes them.
  say "no Node.js headers in $nodedir: running the node package's install again"
  npm rebuild node --no-audit --no-fund >/dev/null
fi
[ -f "$nodedir/include/node/common.gypi" ] || fail "no Node.js headers in $nodedir/include/node (the node devDependency)"

# 3. node-gyp: npm's own copy, found next to the npm that runs this machine's installs.
npm_cli="$(readlink -f "$(command -v npm)")" || fail "no npm on the PATH"
gyp_bin="$(dirname "$npm_cli")/node-gyp-bin"
[ -x "$gyp_bin/node-gyp" ] || fail "no node-gyp next to npm ($gyp_bin)"

# 4. The build: the tests' Node.js first on the PATH, librdkafka linked dynamically.
say "building with $("$node" --version) (headers: $nodedir); this takes a few minutes"
started=$SECONDS
(
  cd "$package"
  export PATH="$root/node_modules/.bin:$gyp_bin:$PATH"
  export CKJS_LINKING=dynamic
  export npm_config_nodedir="$nodedir"
  # No JOBS=max: node-gyp's parallel make races the configure step (config.h); librdkafka's
  # own make runs with -j already.
  unset JOBS
  "$node" "$root/node_modules/@mapbox/node-pre-gyp/bin/node-pre-gyp" rebuild --build-from-source
)
loaded="$(loads)" || fail "built, but the addon does not load under $("$node" --version)"
say "built in $((SECONDS - started)) s: $loaded"

#!/usr/bin/env bash
# Installs the Debian packages the tests need (idempotent). As root it apt-get installs what is
# missing; otherwise it only checks. In CI (CI=true) a missing component is a failure.
set -euo pipefail
# chromium: the approver console's end-to-end test (test/console-e2e.test.ts) drives Debian's Chromium
# with playwright-core; never a browser download.
# softhsm2: the PKCS#11 keystore's tests and the PKCS#11 pass of npm test (test/helpers/softhsm.ts); the
# pkcs11js addon itself builds with node-gyp from the headers it ships (python3, make, g++ are on the machine).
need=(openssl chromium softhsm2)
missing=()
for pkg in "${need[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
  elif [ "${CI:-}" = "true" ]; then
    echo "missing system packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  else
    echo "warning: missing system packages: ${missing[*]}; some tests will fail" >&2
  fi
fi

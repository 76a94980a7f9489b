#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs them.
# Besides Python packages the tests use Node.js (pyright), dbus-daemon (the BlueZ
# emulation bleak drives) and Chromium (the report, rendered headless): Debian's
# packages, installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v node >/dev/null || need+=(nodejs npm)
command -v dbus-daemon >/dev/null || need+=(dbus)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi
python3 -m venv .venv
.venv/bin/pip install -q '.[test]'
exec .venv/bin/python -m pytest -q "$@"

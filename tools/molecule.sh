#!/usr/bin/env bash
# Run one Molecule scenario (full sequence incl. idempotence and verify) with the shared base config.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scenario=$1
cd "$root"
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
start=$(date +%s)
# Mitogen strategy plugins, for scenarios that converge with it (platform).
SQUAREMCP_MITOGEN_STRATEGY_PLUGINS=$(tools/mitogen.sh)
export SQUAREMCP_MITOGEN_STRATEGY_PLUGINS
molecule -c molecule/_shared/base.yml test -s "$scenario" </dev/null
echo "[molecule] $scenario passed in $(( $(date +%s) - start ))s"

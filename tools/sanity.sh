#!/usr/bin/env bash
# ansible-test sanity, offline. ansible-test needs the collection at
# .../ansible_collections/squaremcp/infra, so the checkout's files (tracked + new, not ignored) are
# copied into such a tree beside the dependency collections; sanity runs in its own venv with
# ansible-test's pinned tool versions (--local --requirements installs them from PyPI once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${SANITY_WORKDIR:-/tmp/squaremcp-sanity-$(echo "$root" | md5sum | cut -c1-8)}  # outside the git tree
venv=$root/.cache/sanity-venv
if ! command -v shellcheck >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
fi
core=$(grep -E '^ansible-core==' "$root/requirements.txt")
tree=$work/ansible_collections

if [ ! -x "$venv/bin/ansible-test" ] || ! grep -qx "$core" "$venv/.core" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$core" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  echo "$core" >"$venv/.core"
fi

# ansible-test bootstraps pip in its per-test venvs with a script from an unreachable server;
# this offline stand-in does the same with ensurepip + pip install (PyPI answers here).
get_pip=$HOME/.ansible/test/cache/get_pip_24_2.py
if [ ! -s "$get_pip" ]; then
  mkdir -p "$(dirname "$get_pip")"
  cat >"$get_pip" <<'PY'
"""Offline stand-in for get-pip.py written by squaremcp.infra tools/sanity.sh."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
fi

rm -rf "$tree/squaremcp"
mkdir -p "$tree/squaremcp/infra"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp -P --parents -t "$tree/squaremcp/infra")
for ns in ansible community kubernetes; do
  ln -sfn "$root/.collections/ansible_collections/$ns" "$tree/$ns"
done
cd "$tree/squaremcp/infra"
PATH=$venv/bin:$PATH ansible-test sanity --local --requirements --python 3.11 --color no "$@" 2>&1 \
  | { grep -v -E "is ignored: it is neither a file nor a directory|^(Looking in|Collecting|Downloading|Processing|Installing|Successfully|Requirement already|Attempting|Found existing|Uninstalling|  )" || true; }

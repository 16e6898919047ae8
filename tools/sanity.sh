#!/usr/bin/env bash
# ansible-test sanity, offline. ansible-test needs the collection at
# .../ansible_collections/squaremcp/infra, so the checkout's files (tracked + new, not ignored) are
# copied into such a tree beside the dependency collections; sanity runs in its own venv with
# ansible-test's pinned tool versions (--local --requirements installs them from PyPI once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/.cache/sanity
venv=$root/.cache/sanity-venv
core=$(grep -E '^ansible-core==' "$root/requirements.txt")
tree=$work/ansible_collections

if [ ! -x "$venv/bin/ansible-test" ] || ! grep -qx "$core" "$venv/.core" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$core" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  echo "$core" >"$venv/.core"
fi

rm -rf "$tree/squaremcp"
mkdir -p "$tree/squaremcp/infra"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$tree/squaremcp/infra")
for ns in ansible community kubernetes; do
  ln -sfn "$root/.collections/ansible_collections/$ns" "$tree/$ns"
done
cd "$tree/squaremcp/infra"
PATH=$venv/bin:$PATH ansible-test sanity --local --requirements --python 3.11 "$@" 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }

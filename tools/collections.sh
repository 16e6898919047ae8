#!/usr/bin/env bash
# Dependency collections from PyPI's pinned `ansible` bundle (no Galaxy): download the wheel once,
# extract only the collections galaxy.yml depends on, and link this checkout in as squaremcp.infra.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${ANSIBLE_BUNDLE:-12.3.0}
cache=${SQUAREMCP_CACHE:-/var/cache/squaremcp}
dest=$root/.collections/ansible_collections
wanted=(ansible/posix community/crypto community/docker community/library_inventory_filtering_v1 kubernetes/core)
# Dropped since: removed from a checkout that still has them (an installed collection costs every task under Mitogen).
dropped=(community/general)

wheel=$cache/ansible-$bundle-py3-none-any.whl
if [ ! -s "$wheel" ]; then
  mkdir -p "$cache"
  python3 -m pip download -q --no-deps "ansible==$bundle" -d "$cache" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
fi
mkdir -p "$dest/squaremcp"
python3 - "$wheel" "$dest" "${wanted[@]}" <<'PY'
import shutil, sys, zipfile
from pathlib import Path
wheel, dest, wanted = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
with zipfile.ZipFile(wheel) as zf:
    for name in wanted:
        shutil.rmtree(dest / name, ignore_errors=True)
        prefix = f"ansible_collections/{name}/"
        zf.extractall(dest.parent, [m for m in zf.namelist() if m.startswith(prefix)])
PY
for name in "${dropped[@]}"; do rm -rf "${dest:?}/$name"; done
ln -sfn ../../.. "$dest/squaremcp/infra"
echo "[collections] ansible $bundle: ${wanted[*]} + squaremcp/infra -> checkout" >&2

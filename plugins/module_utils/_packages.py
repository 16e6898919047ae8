# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a role still has to install: Debian packages from one ``dpkg-query`` (no apt cache opened), files from
one ``find`` (no module run per file).

A converge that changes nothing should not pay for apt: opening its cache (both bookworm and trixie
lists on a Docker host) takes seconds per task, while ``dpkg-query`` answers in milliseconds. The roles
run :func:`query_argv`'s command and call apt only for what :func:`missing` returns. Likewise a ``copy``
loop costs a module run per file even when every file is in place: :func:`files_to_copy` reads a
``find`` with checksums and returns only the files ``copy`` would change.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from typing import Any, Dict, Iterable, List, Mapping

FORMAT = "${db:Status-Abbrev}\t${Package}\t${Version}\n"


def _name(spec: str) -> str:
    return str(spec).split("=", 1)[0]


def query_argv(packages: Iterable[str]) -> List[str]:
    """``dpkg-query`` arguments that print status, name and version of ``packages`` (apt specs:
    ``name`` or ``name=version-glob``)."""
    return ["dpkg-query", "-W", "-f=" + FORMAT] + sorted({_name(spec) for spec in packages})


def installed(output: str) -> Dict[str, str]:
    """{name: version} of the packages ``dpkg-query`` reports installed (status ``ii``)."""
    found = {}
    for line in (output or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].startswith("ii"):
            found[parts[1]] = parts[2]
    return found


def missing(output: str, packages: Iterable[str]) -> List[str]:
    """The specs of ``packages`` that are not installed, or installed in a version the glob of
    ``name=glob`` (as apt matches it) does not match; in the given order."""
    have = installed(output)
    wanted = []
    for spec in packages:
        name, _sep, version = str(spec).partition("=")
        if name not in have or (version and not fnmatch.fnmatchcase(have[name], version)):
            wanted.append(spec)
    return wanted


def files_to_copy(names: Iterable[str], src_dir: str, found: Iterable[Mapping[str, Any]], dest_dir: str,
                  mode: str = "0644", owner: str = "root", group: str = "root") -> List[str]:
    """The ``names`` whose copy in ``dest_dir`` is missing or differs from ``src_dir/<name>`` (content SHA-1,
    mode, owner, group: what ``ansible.builtin.copy`` would change), in the given order. ``found`` is the
    ``files`` list of ``ansible.builtin.find`` on ``dest_dir`` with ``get_checksum`` (regular files only: a
    link or anything else at a destination is left to ``copy``)."""
    installed = {os.path.normpath(str(entry.get("path", ""))): entry for entry in found}
    stale = []
    for name in names:
        with open(os.path.join(src_dir, name), "rb") as handle:
            digest = hashlib.sha1(handle.read()).hexdigest()
        have = installed.get(os.path.normpath(os.path.join(dest_dir, name)), {})
        if (have.get("checksum"), have.get("mode"), have.get("pw_name"), have.get("gr_name")) != (digest, mode, owner,
                                                                                                   group):
            stale.append(name)
    return stale

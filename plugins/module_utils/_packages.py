# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Debian packages a role still has to install, from one ``dpkg-query`` (no apt cache opened).

A converge that changes nothing should not pay for apt: opening its cache (both bookworm and trixie
lists on a Docker host) takes seconds per task, while ``dpkg-query`` answers in milliseconds. The roles
run :func:`query_argv`'s command and call apt only for what :func:`missing` returns.
"""

from __future__ import annotations

import fnmatch
from typing import Dict, Iterable, List

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

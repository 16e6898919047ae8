# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a role still has to install: Debian packages from one ``dpkg-query`` (no apt cache opened), files from
one ``find`` and directories from one ``stat`` (no module run per file or directory).

A converge that changes nothing should not pay for apt: opening its cache (both bookworm and trixie
lists on a Docker host) takes seconds per task, while ``dpkg-query`` answers in milliseconds. The roles
run :func:`query_argv`'s command and call apt only for what :func:`missing` returns. Likewise a ``copy``
loop costs a module run per file even when every file is in place: :func:`files_to_copy` reads a
``find`` with checksums and returns only the files ``copy`` would change; :func:`directories_to_create`
reads one ``stat`` (:data:`STAT_ARGV`) and returns only the directories ``file`` would change.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from typing import Any, Dict, Iterable, List, Mapping

FORMAT = "${db:Status-Abbrev}\t${Package}\t${Version}\n"
# stat's command for directories_to_create: mode (octal, special bits included), owner, group, type, name (last: a
# name may hold the separator).
STAT_ARGV = ["stat", "--format=%a:%U:%G:%F:%n"]


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
        # Status-Abbrev: desired action, then state; "i" installed (held "hi" too, as apt's state=present
        # sees it), not half-installed, unpacked or config-files only: those go to apt.
        if len(parts) == 3 and len(parts[0]) >= 2 and parts[0][1] == "i" and parts[0][2:].strip() == "":
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
                  mode: Any = "0644", owner: Any = "root", group: Any = "root") -> List[str]:
    """The ``names`` (paths relative to both directories) whose copy in ``dest_dir`` is missing or differs from
    ``src_dir/<name>`` (content SHA-1, mode, owner, group: what ``ansible.builtin.copy`` would change), in the given
    order. ``found`` is the ``files`` list of ``ansible.builtin.find`` on ``dest_dir`` with ``get_checksum`` (regular
    files only: a link or anything else at a destination is left to ``copy``). None (``mode``, ``owner``, ``group``)
    does not compare."""
    installed = {os.path.normpath(str(entry.get("path", ""))): entry for entry in found}
    stale = []
    for name in names:
        source = os.path.join(src_dir, name)
        with open(source, "rb") as handle:
            digest = hashlib.sha1(handle.read()).hexdigest()
        have = installed.get(os.path.normpath(os.path.join(dest_dir, name)), {})
        wanted = {"checksum": digest, "mode": mode, "pw_name": owner, "gr_name": group}
        if any(value is not None and have.get(key) != value for key, value in wanted.items()):
            stale.append(name)
    return stale


def stat_argv(entries: Iterable[Any]) -> List[str]:
    """``stat`` arguments that print mode, owner, group and type of the entries' paths (see directories_to_create)."""
    return STAT_ARGV + [_path(entry) for entry in entries]


def _path(entry: Any) -> str:
    return str(entry["path"] if isinstance(entry, Mapping) else entry)


def directories_to_create(entries: Iterable[Any], stat_lines: Iterable[str], mode: Any = None, owner: Any = None,
                          group: Any = None) -> List[Any]:
    """The ``entries`` (a path, or a mapping with ``path`` and optionally ``mode``) that ``ansible.builtin.file``
    with ``state: directory`` and these ``mode``/``owner``/``group`` (None: not managed) would change: missing, not
    a directory (a link included) or another mode, owner or group, per the output lines of :func:`stat_argv`'s
    command; in the given order."""
    live = {}
    for line in stat_lines:
        parts = str(line).split(":", 4)
        if len(parts) == 5:
            live[os.path.normpath(parts[4])] = parts[:4]
    stale = []
    for entry in entries:
        wanted_mode = entry.get("mode", mode) if isinstance(entry, Mapping) else mode
        have = live.get(os.path.normpath(_path(entry)))
        if (have is None or have[3] != "directory"
                or (wanted_mode is not None and int(have[0], 8) != int(str(wanted_mode), 8))
                or (owner is not None and have[1] != str(owner)) or (group is not None and have[2] != str(group))):
            stale.append(entry)
    return stale


# systemctl's command for units_to_change: one block of these properties per unit, in the order asked.
SYSTEMCTL_SHOW_ARGV = ["systemctl", "show", "--property=Id", "--property=UnitFileState", "--property=ActiveState"]


def _unit_entry(entry: Any) -> Dict[str, Any]:
    if isinstance(entry, Mapping):
        return {"name": str(entry["name"]), "enabled": entry.get("enabled", True), "active": entry.get("active", True)}
    return {"name": str(entry), "enabled": True, "active": True}


def units_argv(entries: Iterable[Any]) -> List[str]:
    """``systemctl show`` arguments for the entries' units (see units_to_change)."""
    return SYSTEMCTL_SHOW_ARGV + [_unit_entry(entry)["name"] for entry in entries]


def _unit_id(name: str) -> str:
    return name if "." in name.rsplit("@", 1)[-1] else name + ".service"


def units_to_change(entries: Iterable[Any], show_output: str) -> List[str]:
    """Names of the units ``ansible.builtin.systemd_service`` would change, from :func:`units_argv`'s command output.

    An entry is a unit name (wanted enabled and active) or a mapping with ``name``, ``enabled`` (True, False, or None:
    not managed) and ``active`` (True for started, False for stopped, None: not managed). A unit counts as in place
    only when the output has its block (``Id=``, a name without a type being a ``.service``) and systemd says exactly
    so (``UnitFileState=enabled`` / ``disabled``, ``ActiveState=active`` / ``inactive``); a missing block (a failed or
    skipped command, a unit asked under an alias) or any other state leaves the decision to the module.
    """
    live: Dict[str, Dict[str, str]] = {}
    for block in str(show_output or "").split("\n\n"):
        props = dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
        if props.get("Id"):
            live[props["Id"]] = props
    stale = []
    for entry in (_unit_entry(entry) for entry in entries):
        props = live.get(_unit_id(entry["name"]))
        if (props is None
                or (entry["enabled"] is not None
                    and props.get("UnitFileState") != ("enabled" if entry["enabled"] else "disabled"))
                or (entry["active"] is not None
                    and props.get("ActiveState") != ("active" if entry["active"] else "inactive"))):
            stale.append(entry["name"])
    return stale

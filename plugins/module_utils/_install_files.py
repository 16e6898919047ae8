# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan, change list, directories and diff of squaremcp.infra.install_files (the writing is :func:`_files.write_files`)."""

from __future__ import annotations

import os
import stat
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as files

# Longest validator output quoted in an error.
OUTPUT_LIMIT = 2000


def plan(params: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The file specs of :func:`_files.write_files` from the module's parameters; ValueError names the bad entry."""
    specs: List[Dict[str, Any]] = []
    seen: Dict[str, int] = {}
    for index, entry in enumerate(params["files"]):
        where = "files[%d]" % index
        dest = entry["dest"]
        if not os.path.isabs(dest):
            raise ValueError("%s.dest must be an absolute path, not %r" % (where, dest))
        path = os.path.normpath(dest)
        if path in seen:
            raise ValueError("%s.dest %s is also files[%d].dest: give each file once" % (where, path, seen[path]))
        seen[path] = index
        validate = entry.get("validate")
        if validate is not None and "%s" not in validate:
            raise ValueError("%s.validate must contain %%s (the path of the staged copy it checks): %r"
                             % (where, validate))
        secret = entry.get("secret_content") is not None
        text = entry["secret_content"] if secret else entry["content"]
        spec: Dict[str, Any] = {
            "path": path,
            "content": text.encode("utf-8"),
            "owner": _pick(entry, params, "owner"),
            "group": _pick(entry, params, "group"),
            "mode": _pick(entry, params, "mode"),
            "validate": validate,
            "secret": secret,
        }
        specs.append(spec)
    return specs


def _pick(entry: Dict[str, Any], params: Dict[str, Any], key: str) -> Any:
    return entry.get(key) if entry.get(key) is not None else params.get(key)


def changed_files(module: Any, specs: Sequence[Dict[str, Any]]) -> List[str]:
    """Paths of the files a run changes; read before writing. Raises FileError for an unknown owner or bad mode."""
    return [spec["path"] for spec in specs if files.file_differs(module, spec)]


def validation_error(spec: Dict[str, Any], rc: int, out: Optional[str], err: Optional[str]) -> str:
    """Message of a refused validator (its output, cut; never a secret file's content: the module masks it)."""
    output = ((err or "").strip() + "\n" + (out or "").strip()).strip()
    if len(output) > OUTPUT_LIMIT:
        output = output[:OUTPUT_LIMIT] + " ..."
    return ("%s: the validator %r refused the new content (exit %d)%s; nothing was written. Fix what the task "
            "renders into this file (its template or the inventory values it uses) and run again"
            % (spec["path"], spec["validate"], rc, (": " + output) if output else ""))


def diffs(specs: Sequence[Dict[str, Any]], before: Dict[str, Optional[bytes]], written: Sequence[str]) -> List[Dict[str, str]]:
    """One diff per written file that is not a secret (``before``: content read before the run)."""
    out: List[Dict[str, str]] = []
    for spec in specs:
        if spec["path"] not in written or spec["secret"]:
            continue
        old = before.get(spec["path"])
        out.append({
            "before_header": spec["path"] if old is not None else "%s (absent)" % spec["path"],
            "after_header": spec["path"],
            "before": "" if old is None else old.decode("utf-8", "replace"),
            "after": spec["content"].decode("utf-8", "replace"),
        })
    return out


def read_before(specs: Sequence[Dict[str, Any]]) -> Dict[str, Optional[bytes]]:
    """Current content of the files that are not secrets (for the diff), never through a link."""
    return {spec["path"]: files.read_bytes(spec["path"], follow_symlinks=False) for spec in specs if not spec["secret"]}


def plan_directories(params: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The directories of the module's parameters (parents first, as given); ValueError names the bad entry."""
    specs: List[Dict[str, Any]] = []
    seen: Dict[str, int] = {}
    for index, entry in enumerate(params.get("directories") or []):
        where = "directories[%d]" % index
        if not os.path.isabs(entry["path"]):
            raise ValueError("%s.path must be an absolute path, not %r" % (where, entry["path"]))
        path = os.path.normpath(entry["path"])
        if path in seen:
            raise ValueError("%s.path %s is also directories[%d].path: give each directory once" % (where, path, seen[path]))
        seen[path] = index
        specs.append({"path": path, "mode": entry.get("mode"), "owner": entry.get("owner"), "group": entry.get("group")})
    return specs


def directory_changes(module: Any, specs: Sequence[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], List[Tuple[Dict[str, Any], Any]]]:
    """(missing directories, existing ones whose owner, group or mode differs with their wanted attributes).

    A path that is a symbolic link or not a directory raises FileError (nothing is created or changed through a link)."""
    ops = files.file_ops(module)
    missing: List[Dict[str, Any]] = []
    stale: List[Tuple[Dict[str, Any], Any]] = []
    for spec in specs:
        try:
            st = os.lstat(spec["path"])
        except FileNotFoundError:
            missing.append(spec)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise files.FileError("%s is a symbolic link: refusing to manage a directory through it; replace the link "
                                  "with the directory itself, or give the path it points to" % spec["path"])
        if not stat.S_ISDIR(st.st_mode):
            raise files.FileError("%s exists and is not a directory: move it away, or give another path" % spec["path"])
        wanted = files._wanted_attributes(ops, spec)
        if files._attributes_differ(spec["path"], wanted):
            stale.append((spec, wanted))
    return missing, stale


def create_directories(module: Any, missing: Sequence[Dict[str, Any]]) -> List[str]:
    """Create the missing directories in order, missing parents first (nothing in check mode); on a failure remove
    those created and raise."""
    if files.file_ops(module).check_mode:
        return []
    created: List[str] = []
    try:
        for spec in missing:
            # Missing parents first, as mkdir -p (and ansible.builtin.file) does: default mode, the run's owner.
            parents: List[str] = []
            parent = os.path.dirname(spec["path"])
            while parent and parent != "/" and not os.path.lexists(parent):
                parents.append(parent)
                parent = os.path.dirname(parent)
            for path in reversed(parents):
                if files.ensure_directory(module, path):
                    created.append(path)
            if files.ensure_directory(module, spec["path"], spec["mode"], spec["owner"], spec["group"]):
                created.append(spec["path"])
    except files.FileError:
        remove_directories(created)
        raise
    return created


def remove_directories(created: Sequence[str]) -> None:
    """Remove directories this run created (a refused run leaves the tree as it was); one that is not empty stays."""
    for path in reversed(created):
        try:
            os.rmdir(path)
        except OSError:
            pass


def fix_directories(module: Any, stale: Sequence[Tuple[Dict[str, Any], Any]]) -> None:
    """Give existing directories their owner, group and mode (nothing in check mode), never through a link."""
    ops = files.file_ops(module)
    if ops.check_mode:
        return
    for spec, wanted in stale:
        try:
            files._apply_attributes(ops, spec["path"], wanted)
        except OSError as exc:
            raise files.FileError("cannot set owner/group/mode of the directory %s: %s" % (
                spec["path"], exc.strerror or exc), changed=True) from exc

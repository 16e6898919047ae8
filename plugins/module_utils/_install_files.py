# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan, change list and diff of squaremcp.infra.install_files (the writing is :func:`_files.write_files`)."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

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

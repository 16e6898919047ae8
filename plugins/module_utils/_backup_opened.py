# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repositories the converge's init step may take as existing without opening them again.

Opening a repository derives its key (restic's scrypt, about half a second of CPU by design), so
``restic_backup operation=init`` records each repository it opened or created together with the identity
(inode, size, modification time) of what the opening depended on: the backup configuration and the repository's
credential and known_hosts files. While none of these changed and the record is younger than the module's
``reopen_after``, the next converge does not open that repository again; the nightly backup and the weekly check
still open it. The records hold paths, numbers and times only: no URL, password, key or hash of one.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio

FILE_NAME = "opened.json"


def fingerprint(paths: Sequence[str]) -> List[List[Any]]:
    """``[path, inode, size, mtime_ns]`` of each path (``[path, None]`` for one that cannot be read)."""
    result: List[List[Any]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            result.append([path, None])
            continue
        result.append([path, st.st_ino, st.st_size, st.st_mtime_ns])
    return result


def load(state_dir: str) -> Dict[str, Dict[str, Any]]:
    """The records of ``state_dir`` (none when the file is missing or not what this module writes)."""
    try:
        content = fileio.read_bytes(os.path.join(state_dir, FILE_NAME), follow_symlinks=False)
        data = json.loads(content.decode("utf-8")) if content else {}
    except (fileio.FileError, OSError, ValueError):
        return {}
    return {name: record for name, record in data.items() if isinstance(record, dict)} if isinstance(data, dict) else {}


def proven(record: Optional[Dict[str, Any]], current: List[List[Any]], now: float, max_age: float) -> bool:
    """True when ``record`` was made from the same files, every one of them readable, less than ``max_age`` ago."""
    if not record or max_age <= 0 or any(entry[1] is None for entry in current):
        return False
    opened = record.get("opened")
    if not isinstance(opened, (int, float)) or not 0 <= now - opened < max_age:
        return False
    return record.get("fingerprint") == current


def save(files: Any, state_dir: str, records: Dict[str, Dict[str, Any]]) -> Optional[str]:
    """Write ``records`` atomically (mode 0600); returns a problem or None. Nothing is written in check mode."""
    if getattr(files, "check_mode", False):
        return None
    try:
        fileio.write_file(files, os.path.join(state_dir, FILE_NAME),
                          json.dumps(records, sort_keys=True, indent=1).encode("utf-8") + b"\n", mode="0600")
    except (fileio.FileError, OSError) as exc:
        return "the record of opened repositories was not written to %s: %s (the next converge opens them again)" % (
            state_dir, exc)
    return None

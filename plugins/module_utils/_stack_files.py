# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the files of Compose stacks as one atomic set (module squaremcp.infra.stack_files).

Per stack, under ``<root>/<stack>/`` (directories root-owned, 0750, ``secrets/`` 0700):

* ``compose.yml`` (0640): its text is shown in the diff; it holds no secret.
* ``secrets/<name>``: file secrets (Compose mounts them at ``/run/secrets/<name>``), mode/owner per secret.
* ``secrets/<service>.env`` (0600): ``VARIABLE='value'`` lines for one service's env secrets.

Every file of every stack is staged first and renamed into place only when all are staged
(_files.write_files), so a failure leaves every stack as it was. Files in ``secrets/`` that no stack
declares any more are removed. The result says which services must be recreated: every service
mounting a changed file secret, the one service of a changed env file -- only for stacks that were
already deployed (their compose.yml existed).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import stat
from typing import Any, Dict, List

# The shared file helpers (renamed to _files.py on the hardening branch: change this one line).
from ansible_collections.squaremcp.infra.plugins.module_utils._files import (
    FileError, file_ops, lock_directory, read_bytes, remove_files, write_files)

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DIR_MODE, SECRETS_DIR_MODE, COMPOSE_MODE, ENV_MODE = 0o750, 0o700, "0640", "0600"


class StackFilesError(Exception):
    """Bad input; the message names the stack and the entry, never a secret value."""


@dataclasses.dataclass
class Planned:
    stack: str
    existed: bool
    files: List[Dict[str, Any]]
    secret_services: Dict[str, List[str]]  # path -> services to recreate when it changes
    keep: List[str]


def env_file_text(stack: str, service: str, variables: List[Dict[str, Any]]) -> str:
    """``VARIABLE='value'`` lines (single quotes: Compose takes the value literally, no ``$`` interpolation)."""
    lines = ["# Managed by squaremcp.infra.stacks: secrets of %s/%s (from the vault).\n" % (stack, service)]
    for variable in variables:
        name, value = str(variable["name"]), "" if variable.get("value") is None else str(variable["value"])
        if not ENV_NAME.match(name):
            raise StackFilesError("stack %s, service %s: %r is not a valid variable name" % (stack, service, name))
        if "'" in value or "\n" in value or "\r" in value:
            raise StackFilesError("stack %s, service %s: the value of %s holds a single quote or a newline, which an "
                                  "env file cannot carry: make it a file secret" % (stack, service, name))
        lines.append("%s='%s'\n" % (name, value))
    return "".join(lines)


def plan(root: str, stack: Dict[str, Any]) -> Planned:
    name = stack["name"]
    if not FILE_NAME.match(name or ""):
        raise StackFilesError("stack name %r cannot be a directory name" % name)
    directory = os.path.join(root, name)
    files = [{"path": os.path.join(directory, "compose.yml"), "content": stack["compose"].encode("utf-8"),
              "mode": COMPOSE_MODE, "owner": "root", "group": "root"}]
    services: Dict[str, List[str]] = {}
    for secret in stack.get("secret_files") or []:
        if not FILE_NAME.match(secret["name"]) or secret["name"].endswith(".env"):
            raise StackFilesError("stack %s: secret name %r cannot be a file name in secrets/" % (name, secret["name"]))
        path = os.path.join(directory, "secrets", secret["name"])
        files.append({"path": path, "content": ("" if secret.get("content") is None else str(secret["content"]))
                      .encode("utf-8"), "mode": secret.get("mode") or "0400", "owner": secret.get("owner") or "root",
                      "group": secret.get("group") or "root"})
        services[path] = list(secret.get("services") or [])
    for env in stack.get("env_files") or []:
        path = os.path.join(directory, "secrets", "%s.env" % env["service"])
        files.append({"path": path, "content": env_file_text(name, env["service"], env.get("variables") or [])
                      .encode("utf-8"), "mode": ENV_MODE, "owner": "root", "group": "root"})
        services[path] = [env["service"]]
    keep = [os.path.basename(f["path"]) for f in files[1:]]
    if len(set(keep)) != len(keep):
        raise StackFilesError("stack %s: two secrets would share a file name in secrets/: %s" % (name, sorted(keep)))
    return Planned(stack=name, existed=os.path.isfile(files[0]["path"]), files=files, secret_services=services,
                   keep=keep)


def _ensure_dir(module, path: str, mode: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not module.check_mode:
            os.mkdir(path, mode)
            os.chmod(path, mode)
        return True
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise StackFilesError("%s exists but is not a directory (a symbolic link is not followed): move it away" % path)
    if stat.S_IMODE(st.st_mode) != mode or st.st_uid != 0 and os.geteuid() == 0:
        if not module.check_mode:
            os.chmod(path, mode)
            if os.geteuid() == 0:
                os.chown(path, 0, 0)
        return True
    return False


def _stale_secrets(directory: str, keep: List[str]) -> List[str]:
    secrets = os.path.join(directory, "secrets")
    if not os.path.isdir(secrets):
        return []
    return sorted(os.path.join(secrets, entry) for entry in os.listdir(secrets)
                  if entry not in keep and not entry.startswith(".") and os.path.isfile(os.path.join(secrets, entry)))


def apply(module, root: str, stacks: List[Dict[str, Any]], prune: bool = True) -> Dict[str, Any]:
    """Write every stack's files; returns changed, written, removed, stacks, recreate and diff."""
    planned = [plan(root, stack) for stack in stacks]
    names = [p.stack for p in planned]
    if len(set(names)) != len(names):
        raise StackFilesError("a stack is listed twice: %s" % sorted(n for n in names if names.count(n) > 1))
    with lock_directory(os.path.join(root, ".lock"), timeout=120):  # two runs on one root take turns (nothing created)
        return _apply_locked(module, root, planned, prune)


def _apply_locked(module, root: str, planned: List[Planned], prune: bool) -> Dict[str, Any]:
    before = {f["path"]: read_bytes(f["path"], follow_symlinks=False) for p in planned for f in p.files}
    for p in planned:
        for spec in p.files:
            spec["expect"] = before[spec["path"]]  # never write from a stale read
    # Links, owners, groups and modes are checked before a directory is created or fixed: a refused run changes nothing.
    dry_run = copy.copy(file_ops(module))
    dry_run.check_mode = True
    write_files(dry_run, [f for p in planned for f in p.files])
    changed = False
    try:
        changed |= _ensure_dir(module, root, 0o755)
        for p in planned:
            changed |= _ensure_dir(module, os.path.join(root, p.stack), DIR_MODE)
            changed |= _ensure_dir(module, os.path.join(root, p.stack, "secrets"), SECRETS_DIR_MODE)
    except OSError as exc:
        raise StackFilesError("cannot create the stack directories under %s: %s" % (root, exc.strerror or exc))
    result = write_files(module, [f for p in planned for f in p.files])
    written = result["written"]
    changed |= result["changed"]
    removed = []
    if prune:
        for p in planned:
            removed += remove_files(module, _stale_secrets(os.path.join(root, p.stack), p.keep))
    changed |= bool(removed)
    report, recreate, diffs = {}, {}, []
    for p in planned:
        compose_path = p.files[0]["path"]
        secrets_written = [f["path"] for f in p.files[1:] if f["path"] in written]
        report[p.stack] = {"existed": p.existed, "compose_changed": compose_path in written,
                           "secrets_changed": [os.path.basename(path) for path in secrets_written]}
        services = sorted({s for path in secrets_written for s in p.secret_services.get(path, [])})
        if p.existed and services:
            recreate[p.stack] = services
        if compose_path in written:
            old = (before[compose_path] or b"").decode("utf-8", "replace")
            diffs.append({"before_header": compose_path, "after_header": compose_path, "before": old,
                          "after": p.files[0]["content"].decode("utf-8")})
    return {"changed": changed, "written": written, "removed": removed, "stacks": report, "recreate": recreate,
            "diff": diffs}


__all__ = ["FileError", "StackFilesError", "apply", "env_file_text", "plan"]

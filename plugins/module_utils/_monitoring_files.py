# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A set of monitoring configuration files, checked by the real tools as a whole, then written.

The wanted files are laid out in a private temporary directory exactly as they will be under the
root (so ``prometheus.yml`` is checked WITH the new rule and file_sd files it loads), every check
runs there (``promtool check config`` / ``check rules``, ``amtool check-config``, blackbox
``--config.check``, Loki ``-verify-config``, ``alloy fmt``), and only when all pass are the changed
files renamed into place and the pruned ones removed. A refused set leaves every live file as it
was, so the running services keep serving the previous configuration.

Tools are argv lists: Debian's binaries, or ``docker run`` of the pinned image with ``{dir}`` (the
temporary directory, mounted at the same path).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils._redact import redact_text
from ansible_collections.squaremcp.infra.plugins.module_utils._files import (
    FileError, file_ops, lock_directory, read_bytes, remove_files, write_files)

CHECKS = {
    # kind: (tool, arguments after the tool's argv; {file} is the staged copy, {files} all of that kind)
    "prometheus": ("promtool", ["check", "config", "{file}"]),
    "rules": ("promtool", ["check", "rules", "{files}"]),
    "file_sd": ("promtool", ["check", "config", "{file_sd_config}"]),
    "alertmanager": ("amtool", ["check-config", "{file}"]),
    "blackbox": ("blackbox_exporter", ["--config.check", "--config.file={file}"]),
    "loki": ("loki", ["-config.file={file}", "-verify-config"]),
    "alloy": ("alloy", ["fmt", "{file}"]),
}
TOOLS = sorted({tool for tool, _arguments in CHECKS.values()})
FILE_SD_CONFIG = ".file_sd_check.yml"
# file_sd targets are the blackbox job's: URLs or host:port, probed through the exporter.
FILE_SD_TEMPLATE = ("scrape_configs:\n  - job_name: check\n    file_sd_configs:\n      - files: [%s]\n"
                    "    relabel_configs:\n      - target_label: __address__\n        replacement: 127.0.0.1:9115\n")
SECRET_KEY = re.compile(r"^\s*-?\s*[A-Za-z_]*(?:url|password|secret|token|credentials|key)[A-Za-z_]*:\s*(.+?)\s*$", re.M)
URL = re.compile(r"\bhttps?://[^\s\"']+")


class CheckError(Exception):
    """A tool refused a file (or could not run); the message is safe to show (secrets redacted)."""


@dataclass
class WantedFile:
    path: str
    content: bytes
    mode: str = "0644"
    owner: Optional[str] = None
    group: Optional[str] = None
    check: str = "none"
    secret: bool = False


@dataclass
class Outcome:
    changed: bool = False
    written: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    directories: List[str] = field(default_factory=list)
    checked: List[str] = field(default_factory=list)
    skipped_checks: List[str] = field(default_factory=list)
    diff: List[Dict[str, str]] = field(default_factory=list)


def redact(text: str, secrets_from: Sequence[bytes]) -> str:
    """``text`` without any URL or any value of a secret-looking key of the given files."""
    values = set()
    for content in secrets_from:
        values |= {value.strip("'\"") for value in SECRET_KEY.findall(content.decode("utf-8", "replace"))}
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "<redacted>")
    return URL.sub("<redacted URL>", text)


def _relative(path: str) -> str:
    norm = os.path.normpath(path)
    if os.path.isabs(path) or norm.startswith("..") or norm in (".", ""):
        raise FileError("%r is not a path inside the root directory: give a relative path such as prometheus/prometheus.yml" % path)
    return norm


def _no_link_below(root: str, relative: str) -> None:
    """Refuse when ``relative`` (or a directory on the way to it) under ``root`` is a symbolic link: nothing is
    written, chmod-ed or pruned through a link (``root`` itself is named by the task and may be one)."""
    path = root
    for part in relative.split(os.sep):
        path = os.path.join(path, part)
        if os.path.islink(path):
            raise FileError("%s is a symbolic link (to %s): refusing to write, chmod or prune through it; replace the "
                            "link with the directory or file itself, or point root at the real directory"
                            % (path, os.readlink(path)))


def check_tools(tools: Mapping[str, Any]) -> Dict[str, List[str]]:
    """``tools`` as {name: argv}; a name no check uses (a typo would silently skip checks) or an argv that is not a
    list of strings is refused."""
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise FileError("tools %s: no check uses %s; the tools are %s (monitoring_check_commands in the inventory)"
                        % (", ".join(unknown), "it" if len(unknown) == 1 else "them", ", ".join(TOOLS)))
    checked: Dict[str, List[str]] = {}
    for name, argv in tools.items():
        if argv in (None, "", []):
            checked[name] = []
        elif isinstance(argv, list) and all(isinstance(part, str) and part for part in argv):
            checked[name] = list(argv)
        else:
            raise FileError("tools.%s must be a list of strings (the command and its first arguments, e.g. "
                            "[/usr/bin/%s]), not a %s (monitoring_check_commands.%s in the inventory)"
                            % (name, name, type(argv).__name__, name))
    return checked


def _run(argv: List[str], timeout: int) -> Tuple[int, str]:
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except OSError as exc:
        return 127, "cannot run %s: %s" % (argv[0], exc.strerror or exc)
    except subprocess.TimeoutExpired:
        return 124, "%s did not finish within %ds" % (argv[0], timeout)
    return result.returncode, result.stdout.decode("utf-8", "replace")


def run_checks(files: List[WantedFile], tools: Mapping[str, List[str]], check_mode: bool, timeout: int = 300) -> Tuple[List[str], List[str]]:
    """Stage every file in a private directory and run each kind's check once; (checked, skipped).

    Raises :class:`CheckError` naming the file(s) and the tool's output (URLs and secret values of
    secret files redacted). A kind whose tool is empty is skipped; in check mode so is a tool that is
    not installed yet (a fresh host), with a note.
    """
    kinds: Dict[str, List[WantedFile]] = {}
    for wanted in files:
        if wanted.check != "none":
            kinds.setdefault(wanted.check, []).append(wanted)
    if not kinds:
        return [], []
    workdir = tempfile.mkdtemp(prefix="squaremcp-monitoring-check-")
    checked, skipped = [], []
    try:
        for wanted in files:
            staged = os.path.join(workdir, wanted.path)
            os.makedirs(os.path.dirname(staged), mode=0o700, exist_ok=True)
            with open(staged, "wb") as handle:
                handle.write(wanted.content)
        secrets = [w.content for w in files if w.secret]
        for kind in sorted(kinds):
            tool_name, arguments = CHECKS[kind]
            tool = list(tools.get(tool_name) or [])
            paths = [w.path for w in kinds[kind]]
            if not tool:
                skipped.append("%s: no %s configured (monitoring_check_commands.%s is empty), not checked"
                               % (", ".join(paths), tool_name, tool_name))
                continue
            if check_mode and (os.path.basename(tool[0]) == "docker" or "/" in tool[0] and not os.path.exists(tool[0])):
                skipped.append("%s: not checked in check mode (%s)" % (", ".join(paths), "it would start a container"
                               if os.path.basename(tool[0]) == "docker" else "%s is not installed yet" % tool[0]))
                continue
            staged = [os.path.join(workdir, path) for path in paths]
            if kind == "file_sd":
                with open(os.path.join(workdir, FILE_SD_CONFIG), "w") as handle:
                    handle.write(FILE_SD_TEMPLATE % ", ".join(staged))
            argv = [part.replace("{dir}", workdir) for part in tool]
            for argument in arguments:
                if argument == "{files}":
                    argv.extend(staged)
                else:
                    argv.append(argument.replace("{file}", staged[0]).replace(
                        "{file_sd_config}", os.path.join(workdir, FILE_SD_CONFIG)))
            rc, output = _run(argv, timeout)
            output = output.replace(workdir + "/", "")
            output = redact_text(output)
            if kind == "alertmanager" or any(w.secret for w in kinds[kind]):
                output = redact(output, secrets)
            if rc != 0:
                raise CheckError("%s refused by %s (rc %d): %s" % (", ".join(paths), tool_name, rc, output.strip()))
            checked.extend(paths)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return checked, skipped


@dataclass
class WantedDirectory:
    relative: str
    path: str
    mode: int
    gid: Optional[int]


def _wanted_directories(root: str, directories: List[Mapping[str, Any]]) -> List[WantedDirectory]:
    """Every directory spec resolved and checked (mode, group, no link, not a file) before anything changes."""
    import grp

    wanted = []
    for spec in directories:
        relative = _relative(spec["path"]) if spec["path"] not in ("", ".") else "."
        path = os.path.normpath(os.path.join(root, relative))
        text = str(spec.get("mode") or "0755").strip()
        if not re.match(r"^[0-7]{3,4}$", text):
            raise FileError("directories: mode %r of %s is not an octal mode: give one such as '0755'" % (spec.get("mode"), relative))
        gid = None
        if spec.get("group") not in (None, ""):
            group = str(spec["group"])
            try:
                gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
            except KeyError:
                raise FileError("group %r does not exist on this host (directory %s): create it first or fix the "
                                "group" % (group, path)) from None
        if relative != ".":
            _no_link_below(root, relative)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise FileError("%s exists and is not a directory: remove it or fix the path" % path)
        wanted.append(WantedDirectory(relative, path, int(text, 8), gid))
    return wanted


def _ensure_directories(module: Any, wanted: List[WantedDirectory]) -> List[str]:
    """Create or fix the directories (mode, group); the relative paths that changed."""
    changed = []
    for directory in wanted:
        path, mode, gid = directory.path, directory.mode, directory.gid
        if not os.path.isdir(path):
            changed.append(directory.relative)
            if not module.check_mode:
                os.makedirs(path, mode=0o700)
                os.chmod(path, mode)
                if gid is not None:
                    os.chown(path, -1, gid)
            continue
        st = os.lstat(path)
        if (st.st_mode & 0o7777) != mode or (gid is not None and st.st_gid != gid):
            changed.append(directory.relative)
            if not module.check_mode:
                os.chmod(path, mode)
                if gid is not None:
                    os.chown(path, -1, gid)
    return changed


def _lock_path(root: str) -> str:
    """A path whose directory :func:`lock_directory` locks: ``root`` itself, or (not created yet) its nearest
    existing parent, so two runs on one root take turns from the first install on."""
    directory = os.path.abspath(root)
    while not os.path.isdir(directory) and os.path.dirname(directory) != directory:
        directory = os.path.dirname(directory)
    return os.path.join(directory, ".lock")


def apply(module: Any, root: str, files: List[WantedFile], directories: List[Mapping[str, Any]], prune: List[str],
          tools: Mapping[str, Any], lock_timeout: float = 600) -> Outcome:
    """Check the whole set, then create the directories, write what changed and prune; an :class:`Outcome`.

    Everything (paths, links, owners, groups, modes, tools) is checked before anything changes, and the
    read-check-write runs under a lock on ``root``, so a timer and a person never interleave."""
    for wanted in files:
        wanted.path = _relative(wanted.path)
    listed = {w.path for w in files}
    if len(listed) != len(files):
        raise FileError("a path is listed twice in files: each file once")
    checked_tools = check_tools(tools)
    prune = [_relative(directory) for directory in prune]
    with lock_directory(_lock_path(root), timeout=lock_timeout):
        return _apply_locked(module, root, files, _wanted_directories(root, directories), prune, checked_tools)


def _apply_locked(module: Any, root: str, files: List[WantedFile], directories: List[WantedDirectory],
                  prune: List[str], tools: Mapping[str, List[str]]) -> Outcome:
    outcome = Outcome()
    listed = {w.path for w in files}
    stale = []
    for directory in prune:
        _no_link_below(root, directory)
        base = os.path.join(root, directory)
        if os.path.isdir(base):
            for name in sorted(os.listdir(base)):
                relative = os.path.join(directory, name)
                path = os.path.join(base, name)
                if relative not in listed and (os.path.islink(path) or os.path.isfile(path)):
                    stale.append(relative)
    current: Dict[str, Optional[bytes]] = {}
    for wanted in files:
        _no_link_below(root, wanted.path)
        current[wanted.path] = read_bytes(os.path.join(root, wanted.path), follow_symlinks=False)
    specs = [{"path": os.path.join(root, w.path), "content": w.content, "mode": w.mode, "owner": w.owner,
              "group": w.group, "expect": current[w.path]} for w in files]
    # Owners, groups, modes and writable directories, as a dry run (a directory still to be created passes).
    dry_run = copy.copy(file_ops(module))
    dry_run.check_mode = True
    write_files(dry_run, specs)
    created = {d.path for d in directories}
    for spec in specs:
        parent = os.path.dirname(spec["path"])
        if spec["content"] != spec["expect"] and not os.path.isdir(parent) and parent not in created:
            raise FileError("directory %s does not exist and is not in directories: add it there (or fix the path "
                            "of %s)" % (parent, os.path.relpath(spec["path"], root)))
    pending = [w for w in files if current[w.path] != w.content]
    if pending or stale:
        outcome.checked, outcome.skipped_checks = run_checks(files, tools, module.check_mode)
    outcome.directories = _ensure_directories(module, directories)
    for wanted in pending:
        if not wanted.secret:
            outcome.diff.append({"before_header": wanted.path, "after_header": wanted.path,
                                 "before": (current[wanted.path] or b"").decode("utf-8", "replace"),
                                 "after": wanted.content.decode("utf-8", "replace")})
        else:
            outcome.diff.append({"before_header": wanted.path, "after_header": wanted.path,
                                 "before": "(holds secrets: not shown)\n", "after": "(holds secrets: changed, not shown)\n"})
    result = write_files(module, specs, check_missing_dirs=False)
    outcome.written = [os.path.relpath(path, root) for path in result["written"]]
    for relative in stale:
        path = os.path.join(root, relative)
        if os.path.islink(path):
            before = "(symbolic link to %s: the link is removed, not its target)\n" % os.readlink(path)
        else:  # a file no longer listed may have held secrets (a receiver's URL): shown redacted
            content = read_bytes(path, follow_symlinks=False) or b""
            before = redact(redact_text(content.decode("utf-8", "replace")), [content])
        outcome.diff.append({"before_header": relative, "after_header": "%s (removed)" % relative, "before": before,
                             "after": ""})
    outcome.removed = [os.path.relpath(path, root) for path in remove_files(module, [os.path.join(root, s) for s in stale])]
    outcome.changed = bool(result["changed"] or outcome.removed or outcome.directories)
    return outcome

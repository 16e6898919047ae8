# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore one backup run (``latest`` complete one by default) into the running stacks and to its
directories, and prove it: plain Python behind ``restic_restore`` and playbooks/runbooks/restore.yml.

Before anything changes, every item's target is inspected and compared with the run's manifest:

* ``empty``: nothing there (no rows, no keys, no files): restored;
* ``equal``: the same rows (count and digest per table), keys or files: left alone (a second
  restore changes nothing);
* ``differs``: the host holds data the snapshot does not (newer data): the whole restore is
  refused, unless ``force``; then the current data of those sources is first backed up to the same
  repository (a run tagged ``pre-restore``), and only when that succeeded is anything replaced.

A target that is not there (a stack down, a container missing) stops the restore before any
change. Databases are restored in place (PostgreSQL in one transaction: all or nothing), Redis by
putting its RDB in place and restarting it, directories by swapping their content (containers that
use them are stopped meanwhile). Every restored item is verified: database rows and digests equal
the manifest's, Redis keys, the directory listing equals the snapshot's, ``git fsck`` of every bare
repository for sources with ``verify: git``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils._backup import (
    PRE_RESTORE_TAG, BackupError, lock, read_manifest, run_backup, runs, tag_value)
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import Config, Source
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_docker import Container, Docker, SourceError
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_dumps import (
    Fingerprint, Redis, drain, feed_process, kind, pump)
from ansible_collections.squaremcp.infra.plugins.module_utils._restic import Restic, ResticError

READY_TIMEOUT = 180


class RestoreError(Exception):
    """The restore cannot start or was refused; nothing was changed."""


@dataclass
class RestoreItem:
    source: str
    type: str
    database: str = ""
    snapshot: str = ""
    target: str = ""
    state: str = ""  # empty | equal | differs
    differences: List[str] = field(default_factory=list)
    action: str = ""  # restored | unchanged | would restore | refused | failed | skipped
    rows: Dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    verified: Optional[bool] = None
    verification: List[str] = field(default_factory=list)
    duration: float = 0.0
    error: str = ""

    @property
    def label(self) -> str:
        return "%s/%s" % (self.source, self.database) if self.database else self.source


@dataclass
class RestoreOutcome:
    repository: str
    host: str
    run: str = ""
    manifest: str = ""
    snapshot_time: str = ""
    complete: bool = False
    check_mode: bool = False
    force: bool = False
    safety_run: str = ""
    items: List[RestoreItem] = field(default_factory=list)
    changed: bool = False
    failed: bool = False
    duration: float = 0.0
    msg: str = ""
    warnings: List[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Choosing the run


def select_run(restic: Restic, host: str, snapshot: str) -> dict:
    """The manifest snapshot of the run ``snapshot`` names: ``latest`` (newest complete run), a run id
    (``20261203T031500Z``) or the id (or a prefix of 8+ hex digits) of any snapshot of that run."""
    manifests = runs(restic, host)
    complete = [m for m in manifests if "complete" in (m.get("tags") or [])]
    if snapshot in ("", "latest"):
        if not complete:
            raise RestoreError("repository %s holds no complete backup run of host %s%s: back up first, or name a "
                               "partial run" % (restic.repository.display, host, _listing(manifests)))
        return complete[0]
    wanted = snapshot.strip().lower()
    for manifest in manifests:
        if tag_value(manifest, "run").lower() == wanted or (len(wanted) >= 8 and manifest["id"].startswith(wanted)):
            return manifest
    if len(wanted) >= 8:
        for other in restic.snapshots(["squaremcp"], host=host):
            if other["id"].startswith(wanted):
                run = tag_value(other, "run")
                for manifest in manifests:
                    if tag_value(manifest, "run") == run:
                        return manifest
                raise RestoreError("snapshot %s belongs to run %s, which has no manifest (it was interrupted): restore "
                                   "another run" % (snapshot, run))
    raise RestoreError("snapshot %r not found in repository %s for host %s%s: give latest, a run id or a snapshot id "
                       "(restic snapshots --tag manifest)" % (snapshot, restic.repository.display, host, _listing(manifests)))


def _listing(manifests: List[dict], limit: int = 5) -> str:
    if not manifests:
        return " (it holds no run of that host)"
    return " (newest runs: %s)" % ", ".join("%s%s" % (tag_value(m, "run"), "" if "complete" in (m.get("tags") or []) else
                                                      " partial") for m in manifests[:limit])


# --------------------------------------------------------------------------------------------
# Directories


def _listing_of_tree(root: str) -> Dict[str, Tuple[str, int]]:
    """``{relative path: (type, size)}`` of everything below ``root``."""
    out = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            kind_ = "dir" if os.path.isdir(path) and not os.path.islink(path) else ("symlink" if os.path.islink(path) else "file")
            out[os.path.relpath(path, root)] = (kind_, st.st_size if kind_ == "file" else 0)
    return out


def _listing_of_snapshot(nodes: List[dict], root: str) -> Dict[str, Tuple[str, int]]:
    out = {}
    prefix = root.rstrip("/") + "/"
    for node in nodes:
        path = node.get("path", "")
        if path.startswith(prefix):
            kind_ = node.get("type", "file")
            out[path[len(prefix):]] = (kind_, int(node.get("size") or 0) if kind_ == "file" else 0)
    return out


def _compare_trees(live: Dict[str, Tuple[str, int]], saved: Dict[str, Tuple[str, int]]) -> Tuple[str, List[str]]:
    files = [p for p, (k, _s) in live.items() if k != "dir"]
    if not files:
        return "empty", []
    if live == saved:
        return "equal", []
    only_here = sorted(set(live) - set(saved))
    only_there = sorted(set(saved) - set(live))
    changed = sorted(p for p in set(live) & set(saved) if live[p] != saved[p])
    out = []
    for what, paths in (("only on the host", only_here), ("only in the snapshot", only_there), ("different size", changed)):
        if paths:
            out.append("%d path(s) %s: %s%s" % (len(paths), what, ", ".join(paths[:5]), " ..." if len(paths) > 5 else ""))
    return "differs", out


def _swap_content(target: str, staged: str, old: str) -> None:
    """Move ``target``'s entries into ``old`` and ``staged``'s into ``target`` (the directory itself,
    and so every bind mount of it, stays)."""
    os.makedirs(old, mode=0o700, exist_ok=True)
    for name in os.listdir(target):
        os.rename(os.path.join(target, name), os.path.join(old, name))
    for name in os.listdir(staged):
        os.rename(os.path.join(staged, name), os.path.join(target, name))
    st = os.stat(staged)
    os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, st.st_mode & 0o7777)


def holds_bare_repository(listing: Dict[str, Tuple[str, int]]) -> bool:
    """Whether a listing (``_listing_of_tree``/``_listing_of_snapshot``) holds a bare git repository."""
    return any(kind == "file" and os.path.basename(path) == "HEAD"
               and listing.get(os.path.join(os.path.dirname(path), "objects"), ("", 0))[0] == "dir"
               and listing.get(os.path.join(os.path.dirname(path), "refs"), ("", 0))[0] == "dir"
               for path, (kind, _size) in listing.items())


def git_fsck(root: str) -> List[str]:
    """``git fsck --full`` of every bare repository below ``root``; returns the failures."""
    problems, found = [], 0
    for directory, dirs, _files in os.walk(root):
        if {"objects", "refs"} <= set(dirs) and os.path.exists(os.path.join(directory, "HEAD")):
            found += 1
            done = subprocess.run(["git", "-c", "safe.directory=*", "--git-dir", directory, "fsck", "--full", "--no-progress"],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                problems.append("git fsck %s: %s" % (os.path.relpath(directory, root), (done.stderr or done.stdout).strip()[-300:]))
            dirs[:] = []
    return problems if found else ["no bare git repository found below %s" % root]


# --------------------------------------------------------------------------------------------
# The restore


class _Target(object):
    """An item of the manifest with its source and where it goes on this host."""

    def __init__(self, entry: dict, source: Source, docker: Docker):
        self.entry = entry
        self.source = source
        self.docker = docker
        self.item = RestoreItem(source=source.name, type=source.type, database=entry.get("database", ""),
                                snapshot=entry.get("snapshot", ""), bytes=int(entry.get("bytes") or 0),
                                files=int(entry.get("files") or 0))
        self.container: Optional[Container] = None
        self.directory = ""
        self.saved_tree: Dict[str, Tuple[str, int]] = {}

    def inspect(self, restic: Restic, timeout: int) -> None:
        saved = Fingerprint.from_dict(self.entry.get("fingerprint"))
        self.item.rows = saved.counts()
        if self.source.in_container:
            self.container = self.docker.running(self.source.project, self.source.service)
            self.item.target = self.container.label
            live = kind(self.source, self.docker).fingerprint(self.container, self.item.database, timeout)
            if not live.differences(saved) and set(live.tables) == set(saved.tables):
                self.item.state = "equal"
            elif live.empty:
                self.item.state = "empty"
            else:
                self.item.state = "differs"
                self.item.differences = live.differences(saved)
            return
        self.directory = self.source.path or self.docker.volume_mountpoint(self.source.volume)
        self.item.target = self.directory
        for path in self._work_paths():
            if os.path.islink(path):
                raise SourceError("%s: %s is a symbolic link (to %s): refusing to restore through it; %s" % (
                    self.source.display, path, os.readlink(path), "name the directory itself in backup_sources"
                    if path == self.directory.rstrip("/") else "remove the link (the restore creates that directory)"))
        self.saved_tree = _listing_of_snapshot(restic.ls(self.item.snapshot), self.entry["path"])
        live = _listing_of_tree(self.directory) if os.path.isdir(self.directory) else {}
        self.item.state, self.item.differences = _compare_trees(live, self.saved_tree)

    # -- restoring ------------------------------------------------------------------------------
    def restore(self, restic: Restic, config: Config) -> None:
        if self.source.in_container:
            self._restore_stream(restic, config)
        else:
            self._restore_directory(restic, config)

    def _restore_stream(self, restic: Restic, config: Config) -> None:
        handler = kind(self.source, self.docker)
        if isinstance(handler, Redis):
            staged = handler.staging_path(self.container)
            consumer = self.docker.popen(self.container, ["sh", "-c", 'umask 077; cat > "$1"', "sh", staged], stdin=True)
        else:
            for warning in handler.prepare_restore(self.container, self.item.database, self.entry.get("details") or {}):
                self.item.verification.append(warning)
            consumer = handler.popen(self.container, handler.restore_argv(self.item.database), stdin=True)
        errors = bytearray()
        drainer = drain(consumer.stderr, errors)
        out_drainer = drain(consumer.stdout, bytearray())
        dump = restic.dump_stream(self.item.snapshot, self.entry["path"])
        size, stopped = pump(dump.stdout, None, [feed_process(consumer)], time.monotonic() + config.command_timeout)
        if stopped:
            dump.abort()
        try:
            consumer.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        rc = consumer.wait()
        drainer.join(10)
        out_drainer.join(10)
        dump.wait(config.command_timeout)
        if rc != 0 or stopped:
            raise SourceError("%s: restoring %s failed after %d bytes (exit code %d): %s" % (
                self.source.display, self.item.label, size, rc, errors.decode("utf-8", "replace").strip()[-400:]))
        if isinstance(handler, Redis):
            self.container = handler.install(self.container, staged, READY_TIMEOUT)

    def projects(self) -> List[str]:
        """The Compose projects whose containers this restore stops or restarts."""
        if self.source.type == "redis":
            return [self.source.project]
        found = [name.split("/", 1)[0] for name in self.source.stop_services]
        if self.source.volume:
            found += [c.project for c in self.docker.using_volume(self.source.volume) if c.project]
        return sorted(set(found))

    def _users(self) -> List[Container]:
        users = self.docker.using_volume(self.source.volume) if self.source.volume else []
        for name in self.source.stop_services:
            project, service = name.split("/", 1)
            container = self.docker.find(project, service)
            if container.running and container.id not in {c.id for c in users}:
                users.append(container)
        return users

    def _work_paths(self) -> Tuple[str, str, str]:
        """The directory, its staging directory and where its old content goes (beside it)."""
        directory = self.directory.rstrip("/")
        staging = os.path.join(os.path.dirname(directory), ".squaremcp-restore-%s" % os.path.basename(directory))
        return directory, staging, staging + ".old"

    def _restore_directory(self, restic: Restic, config: Config) -> None:
        _directory, staging, old = self._work_paths()
        for path in (staging, old):
            shutil.rmtree(path, ignore_errors=True)
        os.makedirs(staging, mode=0o700)
        restic.restore(self.item.snapshot, staging)
        restored = os.path.join(staging, self.entry["path"].lstrip("/"))
        if not os.path.isdir(restored):
            raise SourceError("%s: snapshot %s does not hold %s" % (self.source.display, self.item.snapshot[:8], self.entry["path"]))
        users = self._users()
        self.docker.stop(users)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            _swap_content(self.directory, restored, old)
        finally:
            self.docker.start(users)
        for user in users:
            self.docker.wait_ready(user, READY_TIMEOUT)
        shutil.rmtree(staging, ignore_errors=True)
        self._old = old

    # -- proving it -----------------------------------------------------------------------------
    def verify(self, restic: Restic, timeout: int) -> None:
        problems = []
        if self.source.in_container:
            handler = kind(self.source, self.docker)
            self.container = self.docker.running(self.source.project, self.source.service)
            live = handler.fingerprint(self.container, self.item.database, timeout)
            saved = Fingerprint.from_dict(self.entry.get("fingerprint"))
            problems += live.differences(saved, "restored database", "manifest")
            if not problems:
                self.item.verification.append("%d %s equal the manifest's (%s)" % (
                    live.rows, "keys" if self.source.type == "redis" else "rows", ", ".join(
                        "%s %d" % (name, count) for name, count in live.counts().items()) or "no table"))
                if isinstance(handler, Redis) and self.item.action == "restored":
                    handler.cleanup(self.container)
        else:
            state, differences = _compare_trees(_listing_of_tree(self.directory), self.saved_tree)
            if state != "equal" and self.saved_tree:
                problems += ["listing differs from the snapshot: %s" % "; ".join(differences)]
            else:
                self.item.verification.append("%d path(s) equal the snapshot's listing" % len(self.saved_tree))
            if self.source.verify == "git" and not holds_bare_repository(self.saved_tree or {}):
                # Nothing to fsck (a Gitea with no repository yet); the listing check above still holds.
                self.item.verification.append("no bare git repository in the snapshot: nothing to fsck")
            elif self.source.verify == "git":
                fsck = git_fsck(self.directory)
                problems += fsck
                if not fsck:
                    self.item.verification.append("git fsck --full passed for every bare repository")
            if not problems and getattr(self, "_old", None):
                shutil.rmtree(self._old, ignore_errors=True)
        self.item.verified = not problems
        if problems:
            self.item.error = "; ".join(problems)


def run_restore(files, config: Config, repository: str, snapshot: str = "latest", sources: Optional[Sequence[str]] = None,
                force: bool = False, host: str = "", now: Optional[datetime.datetime] = None) -> RestoreOutcome:
    """Restore (or, in check mode, plan) one run; see the module docstring."""
    clock = time.monotonic()
    check_mode = bool(getattr(files, "check_mode", False))
    outcome = RestoreOutcome(repository=repository, host=host or config.host, check_mode=check_mode, force=force)
    restic = Restic(config, config.repository(repository))
    docker = Docker(config.docker, config.command_timeout)
    held = None if check_mode else lock(config, files)
    try:
        try:
            restic.open()
            outcome.warnings += restic.warnings
            manifest_snapshot = select_run(restic, outcome.host, snapshot)
            manifest = read_manifest(restic, manifest_snapshot)
        except ResticError as exc:
            raise RestoreError(str(exc))
        outcome.run, outcome.manifest = manifest["run"], manifest_snapshot["id"]
        outcome.snapshot_time, outcome.complete = manifest_snapshot["time"], bool(manifest.get("complete"))
        if not outcome.complete:
            outcome.warnings.append("run %s is partial: %s" % (outcome.run, "; ".join(
                "%s: %s" % (f["source"], f["error"]) for f in manifest.get("failed") or []) or "incomplete"))
        targets = _targets(config, docker, manifest, sources, outcome)
        try:
            for target in targets:
                target.inspect(restic, config.command_timeout)
        except (SourceError, ResticError) as exc:
            raise RestoreError("%s; nothing was restored" % exc)
        outcome.items = [t.item for t in targets]
        for target in targets:
            if target.item.state == "equal":  # the comparison itself proved it
                target.item.verified = True
                target.item.verification.append("equal to the snapshot before the restore: %s" % (
                    "%d file(s) and directories" % len(target.saved_tree) if not target.source.in_container else
                    ", ".join("%s %d" % (k, v) for k, v in target.item.rows.items()) or "no table"))
        newer = [t for t in targets if t.item.state == "differs"]
        todo = [t for t in targets if t.item.state in ("empty", "differs")]
        for target in targets:
            if target.item.state == "equal":
                target.item.action = "unchanged"
            elif newer and not force:
                target.item.action = "refused" if target.item.state == "differs" else "held back"
            else:
                target.item.action = "would restore" if check_mode else "restore"
        if newer and not force:
            outcome.failed = not check_mode
            outcome.msg = ("the host holds data that run %s does not: %s. Refusing to restore over it: check the "
                           "report, then run again with force=true (the current data of %s is first backed up to "
                           "repository %s, tagged %s)" % (
                               outcome.run, "; ".join("%s: %s" % (t.item.label, ", ".join(t.item.differences)) for t in newer),
                               ", ".join(sorted({t.source.name for t in newer})), repository, PRE_RESTORE_TAG))
            return outcome
        if check_mode:
            outcome.msg = "would restore %d item(s) of run %s from %s (%d already equal)" % (
                len(todo), outcome.run, repository, len(targets) - len(todo))
            return outcome
        if not todo:
            outcome.msg = "nothing to restore: the %d item(s) of run %s in %s already hold that data" % (
                len(targets), outcome.run, repository)
            return outcome
        if newer:
            outcome.safety_run = _safety_backup(files, config, repository, newer, now)
        outcome.changed = True
        with _maintenance(config, sorted({p for t in todo for p in t.projects()}), outcome):
            _restore_all(restic, config, todo)
        failed = [t.item for t in targets if t.item.error]
        outcome.failed = bool(failed)
        outcome.msg = "; ".join("%s: %s" % (i.label, i.error) for i in failed) or \
            "restored %d item(s) of run %s from %s and verified every one (%d already equal)" % (
                len(todo), outcome.run, repository, len(targets) - len(todo))
        return outcome
    finally:
        outcome.duration = round(time.monotonic() - clock, 3)
        if held is not None:
            held.release()


def _restore_all(restic: Restic, config: Config, todo: List[_Target]) -> None:
    for target in todo:
        started = time.monotonic()
        try:
            target.restore(restic, config)
            target.item.action = "restored"
            target.verify(restic, config.command_timeout)
        except (SourceError, ResticError, OSError) as exc:
            target.item.action = "failed"
            target.item.error = str(exc)
        target.item.duration = round(time.monotonic() - started, 3)


@contextlib.contextmanager
def _maintenance(config: Config, projects: List[str], outcome: RestoreOutcome):
    """Set the stacks watchdog's maintenance flag of ``projects`` while containers are stopped and
    restarted (it would otherwise start them in the middle); flags set by someone else stay."""
    created = []
    if config.maintenance_dir and projects:
        try:
            os.makedirs(config.maintenance_dir, mode=0o755, exist_ok=True)
            for project in projects:
                flag = os.path.join(config.maintenance_dir, project)
                if os.path.islink(flag):
                    outcome.warnings.append("the maintenance flag %s is a symbolic link: not written through it "
                                            "(remove the link)" % flag)
                    continue
                try:
                    fd = os.open(flag, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                except FileExistsError:
                    continue  # set by someone else: stays
                with os.fdopen(fd, "w") as handle:
                    handle.write("restic_restore of run %s\n" % outcome.run)
                created.append(flag)
        except OSError as exc:
            outcome.warnings.append("cannot set the maintenance flags in %s: %s" % (config.maintenance_dir, exc))
    try:
        yield
    finally:
        for flag in created:
            try:
                os.unlink(flag)
            except OSError as exc:
                outcome.warnings.append("remove the maintenance flag %s by hand: %s" % (flag, exc))


def _targets(config: Config, docker: Docker, manifest: dict, sources: Optional[Sequence[str]],
             outcome: RestoreOutcome) -> List[_Target]:
    names = {entry["source"] for entry in manifest.get("items") or []}
    unknown = sorted(set(sources or ()) - names)
    if unknown:
        raise RestoreError("run %s holds no source named %s (it holds: %s)" % (manifest["run"], ", ".join(unknown),
                                                                               ", ".join(sorted(names))))
    targets = []
    for entry in manifest.get("items") or []:
        if sources and entry["source"] not in sources:
            continue
        source = config.source(entry["source"])
        if source is None:
            outcome.warnings.append("%s is in run %s but not in backup_sources on this host: skipped" % (
                entry["source"], manifest["run"]))
            continue
        if source.type != entry.get("type"):
            raise RestoreError("%s is a %s source in backup_sources but %s in run %s: fix backup_sources" % (
                source.name, source.type, entry.get("type"), manifest["run"]))
        targets.append(_Target(entry, source, docker))
    if not targets:
        raise RestoreError("nothing of run %s matches backup_sources on this host" % manifest["run"])
    return targets


def _safety_backup(files, config: Config, repository: str, newer: List[_Target], now) -> str:
    sources = sorted({t.source.name for t in newer})
    try:
        safety = run_backup(files, config, now=now, sources=sources, repositories=[repository], extra_tags=[PRE_RESTORE_TAG],
                            retention=False, metrics=False, locked=True)
    except BackupError as exc:
        raise RestoreError("the safety backup of %s failed: %s; nothing was restored" % (", ".join(sources), exc))
    if any(item.problem(repository) for item in safety.items) or not safety.items or any(
            r.error for r in safety.repositories):
        raise RestoreError("the safety backup of the data the restore would replace failed (%s); nothing was restored"
                           % safety.msg)
    return safety.run


# --------------------------------------------------------------------------------------------
# Report


def render_markdown(outcome: RestoreOutcome) -> str:
    state = "FAILED" if outcome.failed else ("check mode" if outcome.check_mode else "ok")
    lines = ["# Restore of %s from repository %s: %s" % (outcome.host, outcome.repository, state), "",
             "- run: `%s` (manifest snapshot `%s`, taken %s%s)" % (
                 outcome.run or "-", outcome.manifest[:8] or "-", outcome.snapshot_time or "-",
                 "" if outcome.complete or not outcome.run else ", PARTIAL"),
             "- force: %s%s" % ("yes" if outcome.force else "no",
                                ", current data first saved as run `%s` (tag pre-restore)" % outcome.safety_run
                                if outcome.safety_run else ""),
             "- duration: %.1fs" % outcome.duration, "- result: %s" % outcome.msg, "",
             "| item | type | target | found | action | rows / files | verified |", "|---|---|---|---|---|---|---|"]
    for item in outcome.items:
        amount = ", ".join("%s %d" % (k, v) for k, v in item.rows.items()) or ("%d files" % item.files if item.files else "-")
        verified = {True: "yes", False: "NO", None: "-"}[item.verified]
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (item.label, item.type, item.target, item.state or "-",
                                                               item.action or "-", amount, verified))
    details = [(i.label, i.differences, i.verification, i.error) for i in outcome.items if i.differences or i.verification or i.error]
    if details:
        lines += ["", "## Details", ""]
        for label, differences, verification, error in details:
            for text in differences:
                lines.append("- %s: differs: %s" % (label, text))
            for text in verification:
                lines.append("- %s: %s" % (label, text))
            if error:
                lines.append("- %s: ERROR %s" % (label, error))
    for warning in outcome.warnings:
        lines.append("- warning: %s" % warning)
    return "\n".join(lines) + "\n"

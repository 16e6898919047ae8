# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One backup run, one repository check, the repositories' initialisation and the retention:
plain Python shared by the ``restic_backup`` module and the timer's entry point.

A run gets an id (its UTC start, ``20261203T031500Z``). Every source becomes restic snapshots
tagged ``squaremcp``, ``run=<id>`` and ``source=<name>``: one per database dump (streamed from the
container into every repository at once, so all repositories hold the same dump) and one per
directory. Last, each repository gets the run's manifest (``/squaremcp/manifest.json``, tags
``manifest`` and ``complete`` or ``partial``): what each snapshot holds, with the fingerprint of
every dump, which a restore selects runs by and verifies against. A dump that fails or ends
early aborts restic before its input ends, so no snapshot of partial data exists.

Retention uses restic's own policy (``forget --dry-run``) on the complete manifests, then
forgets whole runs: those the policy drops, and partial runs older than the newest kept one
(``pre-restore`` runs are kept until removed by hand).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_opened as opened_records
from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import Config, ConfigError, Source
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_docker import Docker, SourceError
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_dumps import Redis, kind, produce
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_metrics import parse as parse_metrics
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_metrics import update as update_metrics
from ansible_collections.squaremcp.infra.plugins.module_utils._restic import SNAPSHOT_TAG, Restic, ResticError

MANIFEST_PATH = "/squaremcp/manifest.json"
MANIFEST_FORMAT = 1
PRE_RESTORE_TAG = "pre-restore"
UTC = datetime.timezone.utc


class BackupError(Exception):
    """The run could not start (configuration, lock); nothing was written."""


def run_id(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def restic_time(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def tag_value(snapshot: dict, key: str) -> str:
    for tag in snapshot.get("tags") or []:
        if tag.startswith(key + "="):
            return tag[len(key) + 1:]
    return ""


@dataclass
class Item:
    """One snapshot per repository: a database dump, a Redis RDB or a directory."""

    source: str
    type: str
    database: str = ""
    path: str = ""
    snapshots: Dict[str, str] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    error: str = ""
    bytes: int = 0
    files: int = 0
    fingerprint: Dict[str, list] = field(default_factory=dict)
    details: Dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "%s/%s" % (self.source, self.database) if self.database else self.source

    def entry(self, repository: str) -> dict:
        return {"source": self.source, "type": self.type, "database": self.database, "path": self.path,
                "snapshot": self.snapshots.get(repository, ""), "bytes": self.bytes, "files": self.files,
                "fingerprint": self.fingerprint, "details": self.details}

    def problem(self, repository: str) -> str:
        return self.error or self.errors.get(repository, "")


@dataclass
class RepositoryResult:
    name: str
    display: str
    error: str = ""
    manifest: str = ""
    complete: bool = False
    forgotten: int = 0
    check: Optional[bool] = None
    warnings: List[str] = field(default_factory=list)


@dataclass
class Outcome:
    operation: str
    run: str
    started: str
    duration: float = 0.0
    failed: bool = False
    changed: bool = False
    items: List[Item] = field(default_factory=list)
    repositories: List[RepositoryResult] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    msg: str = ""
    report: str = ""

    @property
    def bytes(self) -> int:
        return sum(item.bytes for item in self.items if not item.error)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["bytes"] = self.bytes
        return data


def _now(now: Optional[datetime.datetime]) -> datetime.datetime:
    return now if now is not None else datetime.datetime.now(UTC)


def lock(config: Config, files):
    if getattr(files, "check_mode", False):
        return None
    try:
        return fileio.FileLock(config.lock_path, timeout=config.lock_timeout).acquire()
    except fileio.LockTimeout as exc:
        raise BackupError(str(exc))
    except fileio.FileError as exc:
        raise BackupError("%s (backup_state_dir must exist: converge the backup role)" % exc)


def open_repositories(config: Config, names: Optional[Sequence[str]], results: List[RepositoryResult],
                      warnings: List[str]) -> Dict[str, Restic]:
    """The usable repositories among ``names`` (default all), stale locks removed; failures go to ``results``,
    credentials systemd did not hand over to ``warnings``."""
    usable = {}
    for repository in config.repositories:
        if names and repository.name not in names:
            continue
        result = RepositoryResult(name=repository.name, display=repository.display)
        results.append(result)
        restic = Restic(config, repository)
        try:
            restic.unlock()  # also proves the repository exists and the password opens it
            usable[repository.name] = restic
        except ResticError as exc:
            result.error = str(exc)
        warnings += [w for w in restic.warnings if w not in warnings]
    return usable


# --------------------------------------------------------------------------------------------
# Backing up one source


def _stream_item(config: Config, docker: Docker, source: Source, database: str, restics: Dict[str, Restic],
                 tags: List[str], when: str) -> Item:
    handler = kind(source, docker)
    item = Item(source=source.name, type=source.type, database=database, path=handler.snapshot_path(database), files=1)
    streams: Dict[str, object] = {}
    try:
        container = docker.running(source.project, source.service)
        if isinstance(handler, Redis):
            rdb = handler.bgsave(container)
            item.fingerprint = handler.fingerprint(container).as_dict()
            argv = handler.dump_argv(path=rdb)
        else:
            item.details = handler.details(container, database)
            argv = handler.dump_argv(database)
        for name, restic in restics.items():
            try:
                streams[name] = restic.backup_stdin(item.path, tags + ["source=" + source.name], config.host, when)
            except ResticError as exc:
                item.errors[name] = str(exc)
        if not streams:
            return item
        result = produce(handler.popen(container, argv), handler.scanner(), [s.write for s in streams.values()],
                         config.command_timeout)
    except SourceError as exc:
        item.error = str(exc)
        for stream in streams.values():
            stream.abort()
        return item
    item.bytes = result.size
    if result.producer_rc != 0 or not result.complete:
        for stream in streams.values():
            stream.abort()
        why = ("exit code %d" % result.producer_rc) if result.producer_rc != 0 else "its end marker is missing"
        if result.producer_rc == 97:
            why = "the password_file %s cannot be read in the container" % source.password_file
        elif all(not stream.alive for stream in streams.values()):
            why = "every repository stopped accepting it"
        item.error = "%s: the dump of %s failed after %d bytes (%s)%s; no snapshot of it was written" % (
            source.display, database or "the RDB", result.size, why,
            ": %s" % result.producer_error if result.producer_error else "")
        for name, stream in streams.items():
            if stream.error is not None:
                item.errors[name] = str(stream.error)
        return item
    if source.type != "redis":
        item.fingerprint = result.fingerprint.as_dict()
    for name, stream in streams.items():
        try:
            item.snapshots[name] = stream.finish(config.command_timeout)["snapshot_id"]
        except ResticError as exc:
            item.errors[name] = str(exc)
    return item


def _directory_item(config: Config, docker: Docker, source: Source, restics: Dict[str, Restic], tags: List[str],
                    when: str) -> Item:
    item = Item(source=source.name, type=source.type)
    try:
        item.path = source.path or docker.volume_mountpoint(source.volume)
    except SourceError as exc:
        item.error = str(exc)
        return item
    if os.path.islink(item.path.rstrip("/")):
        item.error = "%s: %s is a symbolic link (to %s): restic would save the link, not the data; name the directory " \
                     "itself in backup_sources" % (source.display, item.path, os.readlink(item.path.rstrip("/")))
        return item
    if not os.path.isdir(item.path):
        item.error = "%s: %s is not a directory on this host: fix backup_sources or create it" % (source.display, item.path)
        return item
    item.details = {"volume": source.volume} if source.volume else {}
    for name, restic in restics.items():
        try:
            done = restic.backup_paths([item.path], tags + ["source=" + source.name], config.host, when)
        except ResticError as exc:
            item.errors[name] = str(exc)
            continue
        item.snapshots[name] = done["snapshot_id"]
        item.bytes = int(done.get("total_bytes_processed") or 0)
        item.files = int(done.get("total_files_processed") or 0)
    return item


def backup_source(config: Config, docker: Docker, source: Source, restics: Dict[str, Restic], tags: List[str],
                  when: str) -> List[Item]:
    if not source.in_container:
        return [_directory_item(config, docker, source, restics, tags, when)]
    handler = kind(source, docker)
    try:
        databases = handler.databases(docker.running(source.project, source.service))
    except SourceError as exc:
        return [Item(source=source.name, type=source.type, error=str(exc))]
    if not databases:
        error = "%s: no database to back up (the server has none besides its own)" % source.display
        return [Item(source=source.name, type=source.type, error=error)]
    return [_stream_item(config, docker, source, database, restics, tags, when) for database in databases]


# --------------------------------------------------------------------------------------------
# Manifests and retention


def write_manifest(config: Config, restic: Restic, outcome: Outcome, tags: List[str], when: str, extra: Sequence[str]) -> RepositoryResult:
    result = next(r for r in outcome.repositories if r.name == restic.repository.name)
    mine = [item for item in outcome.items if item.snapshots.get(result.name)]
    result.complete = bool(outcome.items) and all(not item.problem(result.name) for item in outcome.items) and not extra
    manifest = {"format": MANIFEST_FORMAT, "run": outcome.run, "host": config.host, "time": outcome.started,
                "complete": result.complete, "tags": list(extra), "items": [item.entry(result.name) for item in mine],
                "failed": [{"source": item.source, "database": item.database, "error": item.problem(result.name)}
                           for item in outcome.items if item.problem(result.name)]}
    status = "complete" if result.complete else "partial"
    stream = restic.backup_stdin(MANIFEST_PATH, tags + ["manifest", status], config.host, when)
    stream.write(json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
    result.manifest = stream.finish(600)["snapshot_id"]
    return result


def runs(restic: Restic, host: str, complete_only: bool = False) -> List[dict]:
    """The manifests of ``host`` in ``restic``, newest first."""
    tags = [SNAPSHOT_TAG, "manifest"] + (["complete"] if complete_only else [])
    return sorted(restic.snapshots(tags, host=host), key=lambda s: s.get("time", ""), reverse=True)


def read_manifest(restic: Restic, snapshot: dict) -> dict:
    data = restic.dump_bytes(snapshot["id"], MANIFEST_PATH)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except ValueError:
        raise ResticError("failed", "repository %s: the manifest of snapshot %s is not JSON" % (
            restic.repository.display, snapshot.get("short_id")))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ResticError("failed", "repository %s: manifest format %r of run %s is not supported (expected %d)" % (
            restic.repository.display, manifest.get("format"), manifest.get("run"), MANIFEST_FORMAT))
    return manifest


def apply_retention(config: Config, restic: Restic) -> int:
    """Forget the runs restic's policy drops and older partial ones, then prune; returns snapshots forgotten."""
    plan = restic.forget_plan([SNAPSHOT_TAG, "manifest", "complete"], config.host, config.retention.restic_args())
    keep = [s for group in plan for s in group.get("keep") or []]
    if not keep:
        return 0
    kept_runs = {tag_value(s, "run") for s in keep}
    dropped_runs = {tag_value(s, "run") for group in plan for s in group.get("remove") or []}
    oldest_kept = min(s["time"] for s in keep)
    forget = []
    for snapshot in restic.snapshots([SNAPSHOT_TAG], host=config.host):
        run = tag_value(snapshot, "run")
        if run in kept_runs or PRE_RESTORE_TAG in (snapshot.get("tags") or []):
            continue
        if run in dropped_runs or snapshot["time"] < oldest_kept:
            forget.append(snapshot["id"])
    if forget:
        restic.forget(forget)
        restic.prune()
    return len(forget)


# --------------------------------------------------------------------------------------------
# Operations


def run_backup(files, config: Config, now: Optional[datetime.datetime] = None, sources: Optional[Sequence[str]] = None,
               repositories: Optional[Sequence[str]] = None, extra_tags: Sequence[str] = (), retention: bool = True,
               metrics: bool = True, locked: bool = False) -> Outcome:
    """Back up ``sources`` (default all) to ``repositories`` (default all). Check mode lists the plan.
    ``locked``: the caller already holds the backup lock (a restore's safety backup)."""
    start = _now(now)
    clock = time.monotonic()
    outcome = Outcome(operation="backup", run=run_id(start), started=start.isoformat())
    selected = [s for s in config.sources if not sources or s.name in sources]
    unknown = sorted(set(sources or ()) - {s.name for s in config.sources})
    if unknown:
        raise BackupError("no source named %s in backup_sources (known: %s)" % (
            ", ".join(unknown), ", ".join(s.name for s in config.sources)))
    if getattr(files, "check_mode", False):
        outcome.items = [Item(source=s.name, type=s.type, path=s.path or s.volume) for s in selected]
        outcome.repositories = [RepositoryResult(name=r.name, display=r.display) for r in config.repositories
                                if not repositories or r.name in repositories]
        outcome.changed = True
        outcome.msg = "would back up %d source(s) to %d repositories" % (len(selected), len(outcome.repositories))
        outcome.report = render_report(outcome)
        return outcome
    held = None if locked else lock(config, files)
    try:
        docker = Docker(config.docker, config.command_timeout)
        restics = open_repositories(config, repositories, outcome.repositories, outcome.warnings)
        tags = [SNAPSHOT_TAG, "run=" + outcome.run] + list(extra_tags)
        when = restic_time(start)
        if restics:
            for source in selected:
                outcome.items += backup_source(config, docker, source, restics, tags, when)
        for name, restic in restics.items():
            result = next(r for r in outcome.repositories if r.name == name)
            try:
                write_manifest(config, restic, outcome, tags, when, extra_tags)
                outcome.changed = True
                if result.complete and retention:
                    result.forgotten = apply_retention(config, restic)
            except ResticError as exc:
                result.error = result.error or str(exc)
                result.complete = False
        outcome.duration = round(time.monotonic() - clock, 3)
        outcome.failed = any(not r.complete for r in outcome.repositories)
        outcome.msg = _summary(outcome)
        if metrics:
            _record(files, config, outcome, _now(None) if now is None else start)
    finally:
        if held is not None:
            held.release()
    outcome.report = render_report(outcome)
    return outcome


def _record(files, config: Config, outcome: Outcome, end: datetime.datetime) -> None:
    stamp = end.timestamp()
    updates = {}
    for result in outcome.repositories:
        fields = {"last_run": stamp}
        if result.complete:
            mine = [item for item in outcome.items if item.snapshots.get(result.name)]
            fields.update(last_success=stamp, size=float(sum(i.bytes for i in mine)), files=float(sum(i.files for i in mine)))
        updates[result.name] = fields
    problem = update_metrics(files, config.metrics_path, updates, [r.name for r in config.repositories])
    if problem:
        outcome.warnings.append(problem)


def record_start_failure(files, config: Config, error: str, now: Optional[datetime.datetime] = None) -> Optional[str]:
    """Metrics of a run that could not start (lock, state directory): last_run now, nothing else."""
    stamp = _now(now).timestamp()
    return update_metrics(files, config.metrics_path, {r.name: {"last_run": stamp} for r in config.repositories},
                          [r.name for r in config.repositories])


def record_unconfigured_run(files, metrics_path: str, now: Optional[datetime.datetime] = None) -> Optional[str]:
    """Metrics of a run whose configuration cannot be read: last_run of every repository the file
    already names (no success: BackupStale fires as the hours pass)."""
    try:
        previous = fileio.read_bytes(metrics_path)
    except fileio.FileError as exc:
        return "metrics not written to %s: %s" % (metrics_path, exc)
    names = sorted(parse_metrics(previous.decode("utf-8", "replace") if previous else None))
    stamp = _now(now).timestamp()
    return update_metrics(files, metrics_path, {name: {"last_run": stamp} for name in names}, names) if names else None


def run_check(files, config: Config, now: Optional[datetime.datetime] = None,
              repositories: Optional[Sequence[str]] = None) -> Outcome:
    """``restic check --read-data-subset`` of each repository; writes check_success."""
    start = _now(now)
    clock = time.monotonic()
    outcome = Outcome(operation="check", run=run_id(start), started=start.isoformat())
    if getattr(files, "check_mode", False):
        outcome.repositories = [RepositoryResult(name=r.name, display=r.display) for r in config.repositories
                                if not repositories or r.name in repositories]
        outcome.msg = "would check %d repositories (read %s of the data)" % (len(outcome.repositories), config.check_subset)
        outcome.report = render_report(outcome)
        return outcome
    held = lock(config, files)
    try:
        restics = open_repositories(config, repositories, outcome.repositories, outcome.warnings)
        for result in outcome.repositories:
            if result.name in restics:
                try:
                    restics[result.name].check(config.check_subset)
                    result.check = True
                except ResticError as exc:
                    result.error = str(exc)
                    result.check = False
            else:
                result.check = False
        outcome.failed = any(not r.check for r in outcome.repositories)
        outcome.duration = round(time.monotonic() - clock, 3)
        outcome.msg = _summary(outcome)
        problem = update_metrics(files, config.metrics_path, {r.name: {"check": 1.0 if r.check else 0.0}
                                                              for r in outcome.repositories},
                                 [r.name for r in config.repositories])
        if problem:
            outcome.warnings.append(problem)
    finally:
        if held is not None:
            held.release()
    outcome.report = render_report(outcome)
    return outcome


def _open_all(config: Config, repositories: Sequence) -> Dict[str, Optional[ResticError]]:
    """Open ``repositories`` at once (each ``restic cat config`` spends most of its time deriving the key)."""
    def attempt(repository) -> Optional[ResticError]:
        try:
            Restic(config, repository).open()
        except ResticError as exc:
            return exc
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(repositories))) as pool:
        return dict(zip([r.name for r in repositories], pool.map(attempt, repositories)))


def _dependencies(config: Config, config_path: str, repository) -> list:
    try:
        return opened_records.fingerprint([config_path] + Restic(config, repository).dependencies())
    except ResticError:
        return [[config_path, None]]  # a missing credential: open it, which says so


def init_repositories(files, config: Config, config_path: str = "", reopen_after: float = 0) -> Outcome:
    """Create the repositories that do not exist yet; never touches one that exists or fails to open.

    With ``config_path`` and ``reopen_after`` (seconds), a repository this function opened or created less than
    ``reopen_after`` ago, with the same configuration file and credential files, is taken as existing without
    opening it again (module _backup_opened)."""
    outcome = Outcome(operation="init", run="", started=_now(None).isoformat())
    remember = bool(config_path) and reopen_after > 0
    records = opened_records.load(config.state_dir) if remember else {}
    now = time.time()
    dependencies = {r.name: _dependencies(config, config_path, r) for r in config.repositories} if remember else {}
    known = {r.name for r in config.repositories
             if remember and opened_records.proven(records.get(r.name), dependencies[r.name], now, reopen_after)}
    opened = _open_all(config, [r for r in config.repositories if r.name not in known])
    for repository in config.repositories:
        result = RepositoryResult(name=repository.name, display=repository.display)
        outcome.repositories.append(result)
        restic = Restic(config, repository)
        try:
            if repository.name in known:
                result.complete = True
                continue
            if opened[repository.name] is not None:
                raise opened[repository.name]
            result.complete = True
        except ResticError as exc:
            if exc.kind != "missing":
                result.error = str(exc)
                continue
            if getattr(files, "check_mode", False):
                result.warnings.append("would be initialised")
                outcome.changed = True
                continue
            try:
                if repository.kind == "local":
                    os.makedirs(os.path.dirname(repository.url.rstrip("/")) or "/", mode=0o700, exist_ok=True)
                restic.init()
                result.complete = True
                result.warnings.append("initialised")
                outcome.changed = True
            except (ResticError, OSError) as error:
                result.error = str(error)
    outcome.failed = any(r.error for r in outcome.repositories)
    outcome.msg = "; ".join(r.error for r in outcome.repositories if r.error) or "%d repositories ready%s" % (
        len(outcome.repositories), " (%s initialised)" % ", ".join(
            r.name for r in outcome.repositories if r.warnings) if outcome.changed else "")
    fresh = {r.name for r in outcome.repositories if r.complete and r.name not in known}
    if remember and fresh:
        for repository in config.repositories:
            if repository.name in fresh:  # created: its credential files are as before
                records[repository.name] = {"fingerprint": dependencies[repository.name], "opened": now}
        problem = opened_records.save(files, config.state_dir, {
            name: record for name, record in records.items() if name in {r.name for r in config.repositories}})
        if problem:
            outcome.warnings.append(problem)
    return outcome


# --------------------------------------------------------------------------------------------
# Report


def _summary(outcome: Outcome) -> str:
    bad = [r for r in outcome.repositories if r.error or (outcome.operation == "backup" and not r.complete)]
    failed_items = [item for item in outcome.items if item.error]
    if not outcome.repositories:
        return "no repository selected"
    if not bad and not failed_items:
        if outcome.operation == "check":
            return "%d repositories checked, no errors" % len(outcome.repositories)
        return "run %s complete in %d repositories: %d snapshot(s), %d bytes in %.1fs" % (
            outcome.run, len(outcome.repositories), len(outcome.items), outcome.bytes, outcome.duration)
    parts = [r.error or "repository %s: run %s is partial" % (r.display, outcome.run) for r in bad]
    parts += [item.error for item in failed_items]
    return "; ".join(dict.fromkeys(parts))


def render_report(outcome: Outcome) -> str:
    head = "squaremcp-backup %s%s: %s" % (outcome.operation, " " + outcome.run if outcome.run else "", outcome.msg)
    lines = [head]
    for result in outcome.repositories:
        state = "ok" if (result.complete or result.check) and not result.error else ("FAILED" if result.error else "-")
        note = result.error or ", ".join(filter(None, [
            "manifest %s" % result.manifest[:8] if result.manifest else "", "forgot %d" % result.forgotten if result.forgotten else "",
            ", ".join(result.warnings)]))
        lines.append("  repository %-12s %-6s %s" % (result.name, state, note))
    for item in outcome.items:
        counts = {k: v[0] for k, v in item.fingerprint.items()}
        problem = item.error or "; ".join("%s: %s" % (k, v) for k, v in sorted(item.errors.items()))
        lines.append("  %-40s %-6s %10d bytes %s%s" % (item.label, "FAILED" if problem else "ok", item.bytes,
                                                       " rows %s" % counts if counts else "", "  " + problem if problem else ""))
    for warning in outcome.warnings:
        lines.append("  warning: %s" % warning)
    return "\n".join(lines) + "\n"


def load_config(path: str) -> Config:
    from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import load
    try:
        return load(path)
    except ConfigError as exc:
        raise BackupError(str(exc))

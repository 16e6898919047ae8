# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate sync for Traefik's file provider: plain Python, unit-testable, no Ansible imports.

Flow of one :func:`run` (shared by the ``traefik_cert_sync`` module and the host entry point of
the ``cert_rotation`` role, each with its own :class:`~._files.FileOps`):

1. check the options (:data:`ARGUMENT_SPEC`, the one definition of the option set) and that the
   source exists, before anything is created;
2. take the lock, read what is installed (``certificates.yml`` written by a previous run);
3. read the source (Kubernetes ``kubernetes.io/tls`` secrets or ``<name>.crt``/``<name>.key``
   pairs in a directory) and inspect every pair (:mod:`._cert_inspect`); the Sealed Secrets
   controller's key and CA certificates are never installed;
4. plan: which content-addressed files to write, the new ``certificates.yml``, what to prune
   (refused when the source lost too many of the installed certificates at once);
5. write new cert/key files, then ``certificates.yml`` (atomic), then prune unreferenced files;
6. write node-exporter textfile metrics and the report (:mod:`._cert_report`). A run that cannot
   even start still writes ``failed 1`` (:func:`record_failure`), so no failure is silent; a failed
   run leaves no directory or lock file it created.

A refused certificate never replaces anything: its previously installed files stay referenced.
Nothing here ever puts key material in a message, a return value or a diff.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio
from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_inspect import (
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, CertError, CertSkipped, describe, inspect_pair, iso, now_utc)
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_options import (
    ARGUMENT_SPEC, LOCK_NAME, ON_EXPIRING, REQUIRED_IF, Options, SyncError, check_params)
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_plan import (
    CONFIG_MODE, MANAGED_FILE, STALE_TEMP, Installed, Plan, installed_info, make_plan, parse_installed,
    read_installed, render_config, split_key)
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_report import (
    ACTIONS, HAS_PROMETHEUS_CLIENT, ident_of, previous_last_success, render_failure_metrics, render_metrics,
    render_report)
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_sources import (
    SEALED_SECRETS_KEY_LABEL, SourceItem, directory_source, file_key, kubernetes_source, source_reader)

HAS_YAML = _yaml.HAS_YAML
DIR_MODE = "0750"
# This module is the interface of the sync (the module, the timer's entry point, filters, tests use it).
__all__ = [
    "ACTIONS", "ARGUMENT_SPEC", "CONFIG_MODE", "CRYPTOGRAPHY_IMPORT_ERROR", "HAS_CRYPTOGRAPHY", "HAS_PROMETHEUS_CLIENT",
    "HAS_YAML", "LOCK_NAME", "MANAGED_FILE", "ON_EXPIRING", "REQUIRED_IF", "SEALED_SECRETS_KEY_LABEL", "STALE_TEMP",
    "CertError", "CertSkipped", "Installed", "Options", "Plan", "SourceItem", "SyncError", "check_params", "describe",
    "directory_source", "file_key", "ident_of", "inspect_pair", "installed_info", "iso", "kubernetes_source",
    "make_plan", "now_utc", "parse_installed", "previous_last_success", "read_installed", "record_failure",
    "render_config", "render_failure_metrics", "render_metrics", "render_report", "run", "source_reader", "split_key",
]


# --------------------------------------------------------------------------------------------
# The run


def _served_from_installed(installed: Installed, options: Options, now: datetime.datetime) -> Dict[str, Any]:
    served = {}
    for key, entry in installed.entries.items():
        info = installed_info(options.dest_dir, entry, now)
        if info is not None:
            namespace, name = split_key(key, options.namespaced)
            served[key] = {"files": entry, "info": info, "namespace": namespace, "name": name}
    return served


def _expiring(plan: Plan, options: Options) -> List[str]:
    """Idents whose best version (served, else the source's) expires within min_days_valid."""
    out = []
    for cert in plan.results:
        if cert["action"] == "removed" or file_key(cert["namespace"], cert["name"]) in plan.excluded:
            continue
        best = cert["installed"] if cert["action"] in ("refused", "skipped", "kept") else cert
        if (best or {}).get("days_left") is None and cert["action"] in ("refused", "skipped"):
            best = cert
        if best and best.get("days_left") is not None and best["days_left"] < options.min_days_valid:
            out.append(ident_of(cert["namespace"], cert["name"]))
    return out


def _missing_libraries(options: Options) -> Optional[str]:
    for present, library, package in ((HAS_CRYPTOGRAPHY, "cryptography", "python3-cryptography"),
                                      (HAS_YAML, "PyYAML", "python3-yaml"),
                                      (HAS_PROMETHEUS_CLIENT or not options.metrics_path, "prometheus_client",
                                       "python3-prometheus-client")):
        if not present:
            return "the Python library %s is missing: install it (Debian: %s)" % (library, package)
    return None


def run(module: Any, params: Mapping[str, Any], fetch: Callable[[], List[SourceItem]],
        now: Optional[datetime.datetime] = None) -> Dict[str, Any]:
    """Sync once. ``module`` is a :class:`~._files.FileOps` (or an ``AnsibleModule``).

    ``fetch()`` returns the source's :class:`SourceItem` list or raises :class:`SyncError`.
    Returns the outcome dict (``failed`` tells whether the caller must fail; ``report`` is the
    text of :func:`render_report`); raises :class:`SyncError` only when nothing could be decided
    (bad options, missing library, lock, unreadable state) -- after :func:`record_failure` wrote
    the failed metrics and report.
    """
    ops = fileio.file_ops(module)
    now = now_utc(now)
    try:
        return _run(ops, params, fetch, now)
    except SyncError as exc:
        problem = record_failure(ops, params, str(exc), now)
        if problem:
            raise SyncError("%s (%s)" % (exc, problem)) from exc
        raise
    except Exception as exc:  # a bug must not look like a healthy sync either
        record_failure(ops, params, "unexpected %s: %s" % (type(exc).__name__, exc), now)
        raise


def _write_quietly(ops: fileio.FileOps, path: str, text: str, what: str) -> Optional[str]:
    try:
        fileio.write_files(ops, [{"path": path, "content": text.encode("utf-8"), "mode": "0644"}])
    except (fileio.FileError, OSError) as exc:
        return "%s not written: %s" % (what, exc)
    return None


def record_failure(module: Any, params: Any, error: str, now: Optional[datetime.datetime] = None) -> Optional[str]:
    """Write ``failed 1`` metrics (:func:`render_failure_metrics`) and the report of a run that could
    not start, to the paths ``params`` names (nothing in check mode). Returns what could not be
    written, or ``None``. Also after a lock timeout: the write is atomic, and the lock holder's own
    write, coming later, then wins."""
    ops = fileio.file_ops(module)
    params = params if isinstance(params, Mapping) else {}
    if ops.check_mode:
        return None
    now = now_utc(now)
    problems: List[Optional[str]] = []
    metrics_path = params.get("metrics_path")
    if metrics_path:
        if not HAS_PROMETHEUS_CLIENT:
            problems.append("metrics not written: the Python library prometheus_client is missing (Debian: "
                            "python3-prometheus-client)")
        else:
            try:
                previous = fileio.read_bytes(metrics_path, follow_symlinks=False)
            except fileio.FileError as exc:
                problems.append("metrics not written: %s" % exc)
            else:
                text = render_failure_metrics(previous.decode("utf-8", "replace") if previous else None, now)
                problems.append(_write_quietly(ops, metrics_path, text, "metrics"))
    report_path = params.get("report_path")
    if report_path:
        problems.append(_write_quietly(ops, report_path, render_report({
            "run_at": iso(now), "failed": True, "error": error, "certificates": [], "expiring": [], "refused": []}),
            "report"))
    return "; ".join(p for p in problems if p) or None


class _RunDirectory:
    """dest_dir and the lock for one run; a failed run removes the directory and lock file it created."""

    def __init__(self, ops: fileio.FileOps, options: Options) -> None:
        self.ops, self.options = ops, options
        self.created = False
        self.lock: Optional[fileio.FileLock] = None

    def enter(self) -> bool:
        """Create dest_dir when missing (True if it was, or would be in check mode), then lock."""
        options = self.options
        if not os.path.isdir(options.dest_dir):
            if self.ops.check_mode:
                return True
            try:
                fileio.ensure_directory(self.ops, options.dest_dir, DIR_MODE, options.owner, options.group)
            except fileio.FileError as exc:
                raise SyncError("cannot create dest_dir %s: %s (create it or fix the path)" % (options.dest_dir, exc)) \
                    from None
            self.created = True
        if not self.ops.check_mode:
            try:
                self.lock = fileio.FileLock(options.lock_file, timeout=options.lock_timeout).acquire()
            except fileio.FileError as exc:
                self.leave(failed=True)
                raise SyncError(str(exc)) from None
        return self.created

    def leave(self, failed: bool) -> None:
        lock_name = os.path.basename(self.options.lock_file)
        if failed and self.created and set(os.listdir(self.options.dest_dir)) <= {lock_name}:
            fileio.remove_files(self.ops, [os.path.join(self.options.dest_dir, lock_name)])
            os.rmdir(self.options.dest_dir)
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _run(ops: fileio.FileOps, params: Mapping[str, Any], fetch: Callable[[], List[SourceItem]],
         now: datetime.datetime) -> Dict[str, Any]:
    options = Options(params)
    missing = _missing_libraries(options)
    if missing:
        raise SyncError(missing)
    options.check_source()
    outcome: Dict[str, Any] = {
        "changed": False, "failed": False, "msg": "", "certificates": [], "expiring": [], "refused": [],
        "warnings": [], "written": [], "removed": [], "config_path": options.config_path, "run_at": iso(now),
        "check_mode": bool(ops.check_mode)}
    if not os.path.isdir(options.dest_dir):
        # A first run reads the source before it creates anything: a source that cannot be read leaves no
        # directory, no lock file, not even a changed mtime of the parent.
        fetch = _fetched_once(fetch)
        try:
            fetch()
        except SyncError as exc:
            if not os.path.lexists(options.config_path):
                raise SyncError("%s; nothing was created" % exc) from None
    directory = _RunDirectory(ops, options)
    changed_dir = directory.enter()
    failed = True
    try:
        # Traefik's dynamic directory has other writers (traefik_routes): take turns with them too.
        with fileio.lock_directory(options.config_path, timeout=options.lock_timeout) if not ops.check_mode \
                else contextlib.nullcontext():
            outcome = _sync(ops, options, outcome, fetch, now, changed_dir)
        failed = outcome["failed"]
        return outcome
    finally:
        directory.leave(failed)


def _fetched_once(fetch: Callable[[], List[SourceItem]]) -> Callable[[], List[SourceItem]]:
    """``fetch`` called at most once: later calls give the same items (or raise the same error)."""
    memo: Dict[str, Any] = {}

    def cached() -> List[SourceItem]:
        if "items" not in memo and "error" not in memo:
            try:
                memo["items"] = fetch()
            except SyncError as exc:
                memo["error"] = exc
        if "error" in memo:
            raise memo["error"]
        return memo["items"]
    return cached


def _sync(ops: fileio.FileOps, options: Options, outcome: Dict[str, Any], fetch: Callable[[], List[SourceItem]],
          now: datetime.datetime, changed_dir: bool) -> Dict[str, Any]:
    """Read, plan and write (under the lock)."""
    installed = read_installed(options.config_path)
    outcome["diff"] = {"before": installed.text or "", "before_header": options.config_path}
    try:
        plan = make_plan(fetch(), installed, options, now)
        if not ops.check_mode:
            fileio.check_writable_dir(options.config_path)
            fileio.check_writable_dir(os.path.join(options.dest_dir, LOCK_NAME))
    except (SyncError, fileio.FileError) as exc:
        outcome.update(failed=True, msg=str(exc), error=str(exc))
        return _finish_unchanged(ops, options, outcome, installed, now)
    outcome.update(certificates=plan.results, warnings=plan.warnings, expiring=_expiring(plan, options))
    outcome["refused"] = [ident_of(c["namespace"], c["name"]) for c in plan.results if c["action"] == "refused"]
    outcome["diff"].update(after=plan.config_text, after_header=options.config_path)
    try:
        files = fileio.write_files(ops, plan.files)
        config = fileio.write_files(ops, [{
            "path": options.config_path, "content": plan.config_text.encode("utf-8"), "mode": CONFIG_MODE,
            "owner": options.owner, "group": options.group, "expect": installed.raw}])
    except fileio.FileError as exc:
        error = "%s; %s still references the previous files" % (exc, options.config_path)
        outcome.update(failed=True, msg=error, error=error)
        return _finish_unchanged(ops, options, outcome, installed, now)
    outcome["written"] = files["written"] + config["written"]
    try:
        outcome["removed"] = fileio.remove_files(ops, plan.prune)
    except fileio.FileError as exc:
        outcome["warnings"].append("%s (the next run removes it)" % exc)
    outcome["changed"] = bool(changed_dir or files["changed"] or config["changed"] or outcome["removed"])
    problems = []
    if outcome["refused"]:
        problems.append("%d certificate(s) refused: %s" % (len(outcome["refused"]), "; ".join(
            "%s: %s" % (ident_of(c["namespace"], c["name"]), c["reason"]) for c in plan.results
            if c["action"] == "refused")))
    if outcome["expiring"] and options.on_expiring == "fail":
        problems.append("%d certificate(s) expire within %d days and could not be replaced: %s (on_expiring=fail)"
                        % (len(outcome["expiring"]), options.min_days_valid, ", ".join(outcome["expiring"])))
    if problems:
        outcome.update(failed=True, msg=". ".join(problems))
    else:
        outcome["msg"] = "%d certificate(s) in place, %d expiring%s" % (
            len(plan.served), len(outcome["expiring"]),
            ", %d skipped (never installed)" % len(plan.excluded) if plan.excluded else "")
    return _finish(ops, options, outcome, plan.served, now)


def _finish_unchanged(ops: fileio.FileOps, options: Options, outcome: Dict[str, Any], installed: Installed,
                      now: datetime.datetime) -> Dict[str, Any]:
    """Finish a failed run that changed nothing: what Traefik still serves, and which of it is expiring."""
    served = _served_from_installed(installed, options, now)
    outcome["expiring"] = sorted(ident_of(entry["namespace"], entry["name"]) for entry in served.values()
                                 if entry["info"]["days_left"] < options.min_days_valid)
    return _finish(ops, options, outcome, served, now)


def _finish(ops: fileio.FileOps, options: Options, outcome: Dict[str, Any], served: Dict[str, Any],
            now: datetime.datetime) -> Dict[str, Any]:
    """Add the report; write the metrics and report files (still under the lock). Not a change."""
    outcome["report"] = render_report(outcome)
    if ops.check_mode:
        return outcome
    if options.metrics_path:
        try:
            previous = fileio.read_bytes(options.metrics_path, follow_symlinks=False)
        except fileio.FileError as exc:
            outcome["warnings"].append("metrics not written: %s" % exc)
        else:
            text = render_metrics(served, outcome["expiring"], outcome["refused"], outcome["failed"],
                                  options.min_days_valid, now,
                                  previous_last_success(previous.decode("utf-8", "replace") if previous else None))
            problem = _write_quietly(ops, options.metrics_path, text, "metrics")
            if problem:
                outcome["warnings"].append(problem)
    if options.report_path:
        problem = _write_quietly(ops, options.report_path, outcome["report"], "report")
        if problem:
            outcome["warnings"].append(problem)
    return outcome

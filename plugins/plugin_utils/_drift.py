# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift detection: task results of a check-mode run -> drift report -> JSON file and textfile metrics.

Used by the callback ``squaremcp.infra.drift`` (which only feeds :class:`DriftRecorder`) and by the
drift-check command (``roles/drift_check/files/squaremcp-drift-check``), which writes the failure
metrics of a run that never reached the end and the ingress audit's metrics. Plain Python: the unit
tests feed it task results recorded from real ansible-playbook runs.

Secrets: a task with ``no_log`` (or an item with ``no_log``) is recorded as changed without its diff
or item label; every diff and message is passed through :func:`redact` (PEM private keys, values of
keys that name a secret, htpasswd hashes, passwords in URLs, Kubernetes Secret data).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import tempfile
import typing as t

# The collection's file lock (module_utils/_files.py).
from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileError, FileLock
from ansible_collections.squaremcp.infra.plugins.module_utils._redact import redact, redact_text

REPORT_VERSION = 1
MAX_DIFF_CHARS = 20000
HIDDEN = "(hidden: no_log)"

DRIFT_TASKS = "squaremcp_drift_tasks"
DRIFT_HOST_FAILED = "squaremcp_drift_host_failed"
DRIFT_LAST_RUN = "squaremcp_drift_last_run_timestamp_seconds"
DRIFT_LAST_SUCCESS = "squaremcp_drift_last_success_timestamp_seconds"
INGRESS_UNSERVED = "squaremcp_ingress_unserved"
INGRESS_LAST_RUN = "squaremcp_ingress_audit_last_run_timestamp_seconds"
INGRESS_LAST_SUCCESS = "squaremcp_ingress_audit_last_success_timestamp_seconds"

HELP = {
    DRIFT_TASKS: "Tasks the last drift check (site.yml --check --diff) would change, per host.",
    DRIFT_HOST_FAILED: "1 when the last drift check failed on the host or could not reach it (or the run never "
                       "reached the end), else 0.",
    DRIFT_LAST_RUN: "Unix time of the last drift check run.",
    DRIFT_LAST_SUCCESS: "Unix time of the last drift check that reached every host (drift or not).",
    INGRESS_UNSERVED: "Ingresses no running ingress controller serves (ingress_class audit).",
    INGRESS_LAST_RUN: "Unix time of the last ingress class audit run.",
    INGRESS_LAST_SUCCESS: "Unix time of the last ingress class audit that completed.",
}


class DriftError(Exception):
    """A report or metrics file could not be read or written; the message says what to fix."""


def _truncate(value: t.Any) -> t.Any:
    if isinstance(value, str) and len(value) > MAX_DIFF_CHARS:
        return value[:MAX_DIFF_CHARS] + "\n... (%d more characters)" % (len(value) - MAX_DIFF_CHARS)
    if isinstance(value, dict):
        return {key: _truncate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_truncate(item) for item in value]
    return value


def _diffs(result: t.Mapping[str, t.Any]) -> list:
    diff = result.get("diff")
    if not diff:
        return []
    return [redact(_truncate(d)) for d in (diff if isinstance(diff, list) else [diff]) if d]


def _hidden(result: t.Mapping[str, t.Any]) -> bool:
    return bool(result.get("_ansible_no_log")) or "censored" in result


def _message(result: t.Mapping[str, t.Any]) -> str:
    if _hidden(result):
        return HIDDEN
    text = result.get("msg") or result.get("reason") or result.get("stderr") or result.get("exception") or ""
    if not isinstance(text, str):
        text = json.dumps(text, default=str, sort_keys=True)
    return redact_text(text.strip())[:4000]


# --- recording -------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """What the report says about a task (the callback builds it from Ansible's Task)."""

    name: str
    role: str | None = None
    action: str = ""
    handler: bool = False
    no_log: bool = False
    path: str = ""


@dataclasses.dataclass
class Change:
    task: TaskInfo
    diff: list
    items: list[str]
    hidden: bool

    def as_dict(self) -> dict[str, t.Any]:
        entry: dict[str, t.Any] = {"task": self.task.name, "role": self.task.role,
                                   "diff": None if self.hidden else self.diff, "action": self.task.action}
        if self.items:
            entry["items"] = self.items
        if self.hidden:
            entry["no_log"] = True
        if self.task.handler:
            entry["handler"] = True
        if self.task.path:
            entry["path"] = self.task.path
        return entry


@dataclasses.dataclass
class HostRecord:
    drifted: list[Change] = dataclasses.field(default_factory=list)
    failed: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    unreachable: bool = False
    unreachable_msg: str = ""
    ok: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, t.Any]:
        entry = {"drifted": [c.as_dict() for c in self.drifted], "failed": list(self.failed),
                 "unreachable": self.unreachable, "ok": self.ok, "skipped": self.skipped}
        if self.unreachable:
            entry["unreachable_msg"] = self.unreachable_msg
        return entry


def _item_label(item_result: t.Mapping[str, t.Any]) -> str:
    if _hidden(item_result):
        return HIDDEN
    label = item_result.get("_ansible_item_label", item_result.get("item"))
    text = label if isinstance(label, str) else json.dumps(label, default=str, sort_keys=True)
    return redact_text(text)[:200]


class DriftRecorder(object):
    """Collects the outcome of every task of a run, per host."""

    def __init__(self, check_mode: bool = True, playbooks: t.Sequence[str] = ()) -> None:
        self.check_mode = check_mode
        self.playbooks = list(playbooks)
        self.hosts: dict[str, HostRecord] = {}
        self.started = _utcnow()

    def host(self, name: str) -> HostRecord:
        return self.hosts.setdefault(name, HostRecord())

    def ok(self, host: str, task: TaskInfo, result: t.Mapping[str, t.Any]) -> None:
        """A task finished without failing (changed or not)."""
        record = self.host(host)
        if not result.get("changed"):
            record.ok += 1
            return
        hidden = task.no_log or _hidden(result)
        loop = result.get("results")
        if isinstance(loop, list):
            changed = [r for r in loop if isinstance(r, dict) and r.get("changed")]
            items = [_item_label(r) for r in changed]
            diffs = [] if hidden else [d for r in changed if not _hidden(r) for d in _diffs(r)]
            hidden = hidden or (bool(changed) and all(_hidden(r) for r in changed))
        else:
            items, diffs = [], ([] if hidden else _diffs(result))
        record.drifted.append(Change(task=task, diff=diffs, items=items, hidden=hidden))

    def skipped(self, host: str, task: TaskInfo, result: t.Mapping[str, t.Any]) -> None:
        self.host(host).skipped += 1

    def failed(self, host: str, task: TaskInfo, result: t.Mapping[str, t.Any], ignore_errors: bool = False) -> None:
        """A failed task; with ignore_errors it counts as ok (the play went on as designed)."""
        if ignore_errors:
            self.host(host).ok += 1
            return
        entry: dict[str, t.Any] = {"task": task.name, "role": task.role,
                                   "msg": HIDDEN if task.no_log else _message(result)}
        loop = result.get("results")
        if isinstance(loop, list):
            failed = [r for r in loop if isinstance(r, dict) and r.get("failed")]
            entry["items"] = [_item_label(r) for r in failed]
            if not task.no_log:
                entry["msg"] = "; ".join("%s: %s" % (_item_label(r), _message(r)) for r in failed) or entry["msg"]
        self.host(host).failed.append(entry)

    def unreachable(self, host: str, task: TaskInfo, result: t.Mapping[str, t.Any]) -> None:
        record = self.host(host)
        record.unreachable = True
        record.unreachable_msg = "%s: %s" % (task.name, _message(result))

    def report(self, complete: bool = True, now: datetime.datetime | None = None) -> dict[str, t.Any]:
        """The drift report: ``{"hosts": {...}, "drifted_tasks": N, ...}``."""
        hosts = {name: self.hosts[name].as_dict() for name in sorted(self.hosts)}
        return {
            "version": REPORT_VERSION,
            "hosts": hosts,
            "drifted_tasks": sum(len(h["drifted"]) for h in hosts.values()),
            "drifted_hosts": sorted(name for name, h in hosts.items() if h["drifted"]),
            "failed_hosts": sorted(name for name, h in hosts.items() if h["failed"]),
            "unreachable_hosts": sorted(name for name, h in hosts.items() if h["unreachable"]),
            "check_mode": self.check_mode,
            "playbooks": self.playbooks,
            "started": _iso(self.started),
            "finished": _iso(now or _utcnow()),
            "complete": complete,
        }


def report_ok(report: t.Mapping[str, t.Any]) -> bool:
    """True when the run reached its end and every host answered without a failed task."""
    return bool(report.get("complete")) and not report.get("failed_hosts") and not report.get("unreachable_hosts")


def exit_code(report: t.Mapping[str, t.Any] | None, playbook_rc: int = 0) -> int:
    """0 no drift, 2 drift, 1 error (no complete report, a failed or unreachable host, ansible-playbook failed)."""
    if report is None or not report_ok(report) or playbook_rc != 0:
        return 1
    return 2 if report.get("drifted_tasks") else 0


def summary_lines(report: t.Mapping[str, t.Any], limit: int = 30) -> list[str]:
    """A short human summary of a drift report (what the drift-check command prints)."""
    lines = []
    hosts = sorted(report.get("hosts", {}).items())
    for name, host in hosts:
        if host.get("unreachable"):
            lines.append("%s: UNREACHABLE (%s)" % (name, host.get("unreachable_msg", "")))
        for failure in host.get("failed", []):
            lines.append("%s: FAILED %s%s: %s" % (name, _role_prefix(failure), failure["task"], failure["msg"]))
    for name, host in hosts:
        for change in host.get("drifted", []):
            items = " (%s)" % ", ".join(change["items"]) if change.get("items") else ""
            lines.append("%s: would change %s%s%s" % (name, _role_prefix(change), change["task"], items))
    if len(lines) > limit:
        lines = lines[:limit] + ["... %d more (see the JSON report)" % (len(lines) - limit)]
    return lines


def _role_prefix(entry: t.Mapping[str, t.Any]) -> str:
    return "%s : " % entry["role"] if entry.get("role") else ""


# --- files -----------------------------------------------------------------------------------------

def check_directory(path: str) -> str:
    """The directory ``path`` goes into; DriftError when it is missing, not writable or ``path`` is a directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DriftError("directory %s does not exist: create it or fix the path %s" % (directory, path))
    if os.path.isdir(path):
        raise DriftError("%s is a directory: give a file name" % path)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DriftError("cannot write into %s (uid %d): fix its permissions or the path %s"
                         % (directory, os.geteuid(), path))
    return directory


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename (a reader
    sees the old or the new file, never half of one); DriftError names the path and the fix."""
    directory = check_directory(path)
    try:
        handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    except OSError as exc:
        raise DriftError("cannot write into %s (%s): fix its permissions or the path %s"
                         % (directory, exc.strerror or exc, path)) from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DriftError("cannot write %s (%s)" % (path, exc.strerror or exc)) from None


def write_json(path: str, document: t.Any) -> None:
    atomic_write(path, (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8"), 0o640)


def read_json(path: str) -> t.Any:
    """The JSON document at ``path``; None when it is missing or does not parse."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_report(path: str, report: t.Mapping[str, t.Any]) -> None:
    write_json(path, report)


def error_report(message: str, now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """The report of a run that never reached the end (no host was checked)."""
    stamp = _iso(now or _utcnow())
    return {"version": REPORT_VERSION, "hosts": {}, "drifted_tasks": 0, "drifted_hosts": [], "failed_hosts": [],
            "unreachable_hosts": [], "complete": False, "error": redact_text(message), "started": stamp,
            "finished": stamp, "exit_code": 1}


class LockBusy(DriftError):
    """Another run holds the lock."""


def lock(path: str, timeout: float) -> FileLock:
    """Hold ``path`` exclusively (a timer run and a person's run never interleave); LockBusy after ``timeout``."""
    try:
        return FileLock(path, timeout=timeout).acquire()
    except FileError as exc:
        raise LockBusy(str(exc)) from None


def read_report(path: str) -> dict[str, t.Any] | None:
    """The report at ``path``; None when it does not exist; DriftError when it is not a drift report."""
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DriftError("%s is not a readable drift report (%s)" % (path, exc)) from None
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), dict) or "drifted_tasks" not in report:
        raise DriftError("%s is not a drift report (no hosts / drifted_tasks)" % path)
    return report


# --- metrics (node-exporter textfile collector) ----------------------------------------------------

def _prometheus():
    try:
        import prometheus_client
        from prometheus_client import parser
    except ImportError:
        raise DriftError("the Python library prometheus_client is missing: install python3-prometheus-client "
                         "(Debian) or prometheus-client (pip) where ansible-playbook runs") from None
    return prometheus_client, parser


def read_samples(text: str | None) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{metric name: [(labels, value)]} of a textfile; an unreadable text counts as empty."""
    if not text:
        return {}
    _client, parser = _prometheus()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    try:
        for family in parser.text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    except (ValueError, TypeError, IndexError):
        return {}
    return samples


def _last(samples: t.Mapping[str, list], name: str) -> float | None:
    values = samples.get(name) or []
    return values[-1][1] if values else None


def _exposition(series: t.Mapping[str, t.Sequence[tuple[t.Mapping[str, str], float]]]) -> str:
    client, _parser = _prometheus()
    registry = client.CollectorRegistry()
    for name, values in series.items():
        if not values:
            continue
        labels = sorted(values[0][0])
        gauge = client.Gauge(name, HELP[name], labels, registry=registry)
        for label_values, value in values:
            (gauge.labels(**label_values) if labels else gauge).set(value)
    return client.generate_latest(registry).decode("utf-8")


def drift_metrics(report: t.Mapping[str, t.Any], previous_text: str | None = None, now: float | None = None) -> str:
    """Textfile metrics of a drift report (``complete`` or not); last success carried over from
    ``previous_text`` when this run did not succeed."""
    stamp = _stamp(now)
    hosts = report.get("hosts", {})
    last_success = stamp if report_ok(report) else _last(read_samples(previous_text), DRIFT_LAST_SUCCESS)
    series: dict[str, list] = {
        DRIFT_TASKS: [({"host": name}, len(host.get("drifted", []))) for name, host in sorted(hosts.items())],
        DRIFT_HOST_FAILED: [({"host": name}, 1 if host.get("failed") or host.get("unreachable") or
                             not report.get("complete") else 0) for name, host in sorted(hosts.items())],
        DRIFT_LAST_RUN: [({}, stamp)],
        DRIFT_LAST_SUCCESS: [({}, last_success)] if last_success is not None else [],
    }
    return _exposition(series)


def drift_failure_metrics(previous_text: str | None = None, now: float | None = None) -> str:
    """Metrics of a run that never produced a report (bad vault, unreadable inventory, killed): every host
    of the previous file marked failed with its drift count kept, last run now, last success kept."""
    previous = read_samples(previous_text)
    hosts = sorted({labels.get("host", "") for labels, _v in previous.get(DRIFT_TASKS, [])} - {""})
    drifted = {labels.get("host"): value for labels, value in previous.get(DRIFT_TASKS, [])}
    last_success = _last(previous, DRIFT_LAST_SUCCESS)
    series: dict[str, list] = {
        DRIFT_TASKS: [({"host": h}, drifted[h]) for h in hosts],
        DRIFT_HOST_FAILED: [({"host": h}, 1) for h in hosts],
        DRIFT_LAST_RUN: [({}, _stamp(now))],
        DRIFT_LAST_SUCCESS: [({}, last_success)] if last_success is not None else [],
    }
    return _exposition(series)


def ingress_metrics(unserved: int | None, previous_text: str | None = None, now: float | None = None) -> str:
    """Metrics of the ingress class audit; ``unserved`` None: the audit failed (count and last success kept)."""
    stamp = _stamp(now)
    previous = read_samples(previous_text)
    count = float(unserved) if unserved is not None else _last(previous, INGRESS_UNSERVED)
    last_success = stamp if unserved is not None else _last(previous, INGRESS_LAST_SUCCESS)
    series: dict[str, list] = {
        INGRESS_UNSERVED: [({}, count)] if count is not None else [],
        INGRESS_LAST_RUN: [({}, stamp)],
        INGRESS_LAST_SUCCESS: [({}, last_success)] if last_success is not None else [],
    }
    return _exposition(series)


def write_metrics(path: str, text: str) -> None:
    """Put a textfile in place atomically, readable by node-exporter (0644)."""
    if not path.endswith(".prom"):
        raise DriftError("%s: node-exporter's textfile collector reads only *.prom files: fix the path" % path)
    atomic_write(path, text.encode("utf-8"), 0o644)


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


# --- time ------------------------------------------------------------------------------------------

def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(now: float | None) -> float:
    return round(now if now is not None else _utcnow().timestamp(), 3)

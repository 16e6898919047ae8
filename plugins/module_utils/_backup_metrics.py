# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup's node-exporter textfile metrics (README "Metrics the collection writes"), one
series per repository, rendered and parsed with prometheus_client.

A backup run and a check run each update their own series and carry the others over from the
previous file, so the file always holds the whole picture. A repository that never had a success
gets ``last_success 0``, so ``BackupStale`` fires for it instead of staying silent.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, fields, replace
from typing import Dict, Iterable, Optional

try:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    HAS_PROMETHEUS_CLIENT = True
    PROMETHEUS_CLIENT_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    HAS_PROMETHEUS_CLIENT = False
    PROMETHEUS_CLIENT_IMPORT_ERROR = traceback.format_exc()

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio

PREFIX = "squaremcp_backup_"
METRICS = (  # field, metric name, help
    ("last_run", "squaremcp_backup_last_run_timestamp_seconds", "Unix time the last backup run to this repository ended."),
    ("last_success", "squaremcp_backup_last_success_timestamp_seconds",
     "Unix time of the last complete backup run to this repository (0: none yet)."),
    ("size", "squaremcp_backup_snapshot_size_bytes", "Bytes read by the last complete backup run (all its snapshots)."),
    ("files", "squaremcp_backup_snapshot_files", "Files in the last complete backup run (a database dump counts as one)."),
    ("check", "squaremcp_backup_check_success", "1 when the last restic check of this repository passed, else 0."),
)


@dataclass(frozen=True)
class RepositoryMetrics:
    last_run: Optional[float] = None
    last_success: Optional[float] = None
    size: Optional[float] = None
    files: Optional[float] = None
    check: Optional[float] = None


def parse(text: Optional[str]) -> Dict[str, RepositoryMetrics]:
    """The per-repository values of a previous metrics file (unreadable content counts as none)."""
    by_name = {name: field for field, name, _help in METRICS}
    values: Dict[str, Dict[str, float]] = {}
    try:
        for family in text_string_to_metric_families(text or ""):
            for sample in family.samples:
                if sample.name in by_name and sample.labels.get("repository"):
                    values.setdefault(sample.labels["repository"], {})[by_name[sample.name]] = float(sample.value)
    except (ValueError, TypeError, KeyError):
        return {}
    return {repository: RepositoryMetrics(**data) for repository, data in values.items()}


def render(states: Dict[str, RepositoryMetrics]) -> bytes:
    registry = CollectorRegistry()
    for field, name, help_text in METRICS:
        gauge = Gauge(name, help_text, ["repository"], registry=registry)
        for repository in sorted(states):
            value = getattr(states[repository], field)
            if value is not None:
                gauge.labels(repository=repository).set(value)
    return generate_latest(registry)


def merge(previous: Dict[str, RepositoryMetrics], updates: Dict[str, dict], repositories: Iterable[str]) -> Dict[str, RepositoryMetrics]:
    """``previous`` with ``updates`` (repository -> changed fields) applied, for the configured
    ``repositories`` only; a repository without a success so far gets ``last_success`` 0."""
    known = {f.name for f in fields(RepositoryMetrics)}
    out = {}
    for repository in repositories:
        state = replace(previous.get(repository, RepositoryMetrics()), **{
            key: value for key, value in updates.get(repository, {}).items() if key in known})
        if state.last_run is not None and state.last_success is None:
            state = replace(state, last_success=0.0)
        out[repository] = state
    return out


def update(files, path: str, updates: Dict[str, dict], repositories: Iterable[str]) -> Optional[str]:
    """Apply ``updates`` to the metrics file at ``path`` (atomic, mode 0644); returns a problem or None.
    ``files`` is the AnsibleModule (or the timer's stand-in) the shared file helpers write through."""
    if not path or getattr(files, "check_mode", False):
        return None
    if not HAS_PROMETHEUS_CLIENT:
        return "metrics not written: the Python library prometheus_client is missing (Debian: python3-prometheus-client)"
    try:
        previous = fileio.read_bytes(path)
        states = merge(parse(previous.decode("utf-8", "replace") if previous else None), updates, repositories)
        fileio.write_file(files, path, render(states), mode="0644")
    except (fileio.FileError, OSError) as exc:
        return "metrics not written to %s: %s" % (path, exc)
    return None

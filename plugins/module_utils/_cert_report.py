# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a certificate sync leaves behind: node-exporter textfile metrics (rendered and parsed with
``prometheus_client``, Debian ``python3-prometheus-client``) and the human report."""

from __future__ import annotations

import datetime
import traceback
from typing import Any, Dict, List, Mapping, Optional, Sequence

try:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    HAS_PROMETHEUS_CLIENT = True
    PROMETHEUS_CLIENT_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported by the callers
    HAS_PROMETHEUS_CLIENT = False
    PROMETHEUS_CLIENT_IMPORT_ERROR = traceback.format_exc()

UTC = datetime.timezone.utc
SECONDS_PER_DAY = 86400
ACTIONS = ("added", "updated", "unchanged", "skipped", "refused", "removed", "kept")
EXPIRY_METRIC = "squaremcp_certificate_expiry_timestamp_seconds"
FAILED_METRIC = "squaremcp_certificate_sync_failed"
LAST_RUN_METRIC = "squaremcp_certificate_sync_last_run_timestamp_seconds"
LAST_SUCCESS_METRIC = "squaremcp_certificate_sync_last_success_timestamp_seconds"
# name -> (help, label names); README "Metrics the collection writes" lists the same names.
METRICS = {
    EXPIRY_METRIC: ("notAfter of the certificate Traefik serves, as a Unix timestamp.", ("domain", "name", "namespace")),
    "squaremcp_certificate_sync_certificates": (
        "Certificates referenced by Traefik's certificates.yml after the last sync.", ()),
    "squaremcp_certificate_sync_expiring": (
        "Certificates expiring within min_days_valid that the last sync could not replace.", ()),
    "squaremcp_certificate_sync_refused": (
        "Certificates the last sync refused (expired, wrong key, bad chain, missing ...).", ()),
    "squaremcp_certificate_sync_min_valid_seconds": (
        "The sync's min_days_valid threshold in seconds (alert below it).", ()),
    FAILED_METRIC: (
        "1 when the last sync failed or refused or (on_expiring=fail) found expiring certificates, else 0.", ()),
    LAST_RUN_METRIC: ("Unix time of the last sync run.", ()),
    LAST_SUCCESS_METRIC: ("Unix time of the last successful sync run.", ()),
}
Samples = Dict[str, List[tuple]]  # name -> [(labels dict, value)]


def ident_of(namespace: str, name: str) -> str:
    return "%s/%s" % (namespace, name) if namespace else name


def _now(now: Optional[datetime.datetime]) -> datetime.datetime:
    return now if now is not None else datetime.datetime.now(UTC)


def _exposition(samples: Samples) -> str:
    registry = CollectorRegistry()
    for name, (help_text, labels) in METRICS.items():
        if not samples.get(name):
            continue
        gauge = Gauge(name, help_text, labels, registry=registry)
        for label_values, value in samples[name]:
            (gauge.labels(**label_values) if labels else gauge).set(value)
    return generate_latest(registry).decode("utf-8")


def parse_samples(text: Optional[str]) -> Samples:
    """The samples of our metrics in an exposition text (lines of other metrics or garbage are ignored)."""
    samples: Samples = {}
    ours = "\n".join(line for line in (text or "").splitlines()
                     if line.split("{", 1)[0].split(" ", 1)[0] in METRICS) + "\n"
    try:
        for family in text_string_to_metric_families(ours):
            for sample in family.samples:
                if sample.name in METRICS:
                    samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    except (ValueError, TypeError, IndexError):
        return {}
    return samples


def previous_last_success(metrics_text: Optional[str]) -> Optional[float]:
    found = parse_samples(metrics_text).get(LAST_SUCCESS_METRIC)
    return found[0][1] if found else None


def render_metrics(served: Mapping[str, Any], expiring: Sequence[str], refused: Sequence[str], failed: bool,
                   min_days_valid: int, now: Optional[datetime.datetime] = None,
                   last_success: Optional[float] = None) -> str:
    """Prometheus text exposition for node-exporter's textfile collector.

    Expiry is a timestamp (never stale, base unit as promtool demands); days left in PromQL:
    ``(squaremcp_certificate_expiry_timestamp_seconds - time()) / 86400``.
    """
    stamp = _now(now).timestamp()
    if not failed:
        last_success = stamp
    samples: Samples = {EXPIRY_METRIC: []}
    for key in sorted(served):
        entry = served[key]
        info = entry["info"]
        not_after = datetime.datetime.strptime(info["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for domain in sorted(set(info["domains"])) or [""]:
            samples[EXPIRY_METRIC].append(({"namespace": entry["namespace"], "name": entry["name"], "domain": domain},
                                           not_after.timestamp()))
    samples["squaremcp_certificate_sync_certificates"] = [({}, len(served))]
    samples["squaremcp_certificate_sync_expiring"] = [({}, len(expiring))]
    samples["squaremcp_certificate_sync_refused"] = [({}, len(refused))]
    samples["squaremcp_certificate_sync_min_valid_seconds"] = [({}, min_days_valid * SECONDS_PER_DAY)]
    samples[FAILED_METRIC] = [({}, 1 if failed else 0)]
    samples[LAST_RUN_METRIC] = [({}, stamp)]
    if last_success is not None:
        samples[LAST_SUCCESS_METRIC] = [({}, last_success)]
    return _exposition(samples)


def render_failure_metrics(previous_text: Optional[str], now: Optional[datetime.datetime] = None) -> str:
    """Metrics of a run that could not start: ``failed 1`` and the run time; every other series
    (expiry per certificate, counts, threshold, last success) carried over from ``previous_text``,
    so expiry alerts keep working while the sync is broken."""
    samples = parse_samples(previous_text)
    samples[FAILED_METRIC] = [({}, 1)]
    samples[LAST_RUN_METRIC] = [({}, _now(now).timestamp())]
    return _exposition(samples)


def render_report(outcome: Mapping[str, Any]) -> str:
    """A short human report (also what the systemd service prints to the journal)."""
    counts: Dict[str, int] = {}
    for cert in outcome["certificates"]:
        counts[cert["action"]] = counts.get(cert["action"], 0) + 1
    head = "traefik_cert_sync %s: %s; %d certificate(s)%s; %d expiring, %d refused%s" % (
        outcome.get("run_at", ""), "FAILED" if outcome.get("failed") else "ok", len(outcome["certificates"]),
        "".join(", %d %s" % (counts[a], a) for a in ACTIONS if counts.get(a)), len(outcome["expiring"]),
        len(outcome["refused"]), " (check mode)" if outcome.get("check_mode") else "")
    lines = [head]
    if outcome.get("error"):
        lines.append("  error: %s" % outcome["error"])
    for cert in outcome["certificates"]:
        shown = cert["installed"] if cert["action"] in ("refused", "skipped", "kept") and cert["installed"] else cert
        when = " notAfter %s (%s days)" % (shown["not_after"], shown["days_left"]) if shown.get("not_after") else ""
        lines.append("  %-9s %s%s%s%s" % (
            cert["action"], ident_of(cert["namespace"], cert["name"]),
            " [%s]" % " ".join(cert["domains"]) if cert["domains"] else "", when,
            ": %s" % cert["reason"] if cert["reason"] else ""))
    return "\n".join(lines) + "\n"

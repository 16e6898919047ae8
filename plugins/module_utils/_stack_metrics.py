# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stacks watchdog's node-exporter textfile metrics and the small state it keeps between runs.

Names (the README's "Metrics the collection writes" table; the monitoring role alerts on them):

* ``squaremcp_stack_service_up{stack,service}``            1 while a container of the service runs
* ``squaremcp_stack_service_healthy{stack,service}``       1 while it runs and is healthy (no health check: runs)
* ``squaremcp_stack_service_restarts_total{stack,service}`` restarts by Docker's restart policy plus
  starts, restarts and re-creations by the watchdog; kept across container re-creation in the state file
* ``squaremcp_stack_maintenance{stack}``                   1 while the stack's maintenance flag is set
* ``squaremcp_stack_watchdog_last_run_timestamp_seconds``  every run, also one that could not reach Docker
* ``squaremcp_stack_watchdog_last_success_timestamp_seconds`` the last run that ended with every service
  outside maintenance up and healthy

The exposition format comes from prometheus_client (Debian's python3-prometheus-client).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    HAS_PROMETHEUS_CLIENT = True
except ImportError:  # pragma: no cover - the watchdog reports it
    HAS_PROMETHEUS_CLIENT = False

from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks

STATE_VERSION = 1


def new_state() -> Dict[str, Any]:
    return {"version": STATE_VERSION, "services": {}, "last_success": None}


def load_state(text: Optional[str]) -> Dict[str, Any]:
    """The state of the previous run; a missing or unreadable state starts afresh (counters reset, as Prometheus allows)."""
    try:
        state = json.loads(text) if text else None
    except ValueError:
        state = None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or not isinstance(state.get("services"), dict):
        return new_state()
    return state


def dump_state(state: Dict[str, Any]) -> str:
    return json.dumps(state, indent=1, sort_keys=True) + "\n"


def account_restarts(state: Dict[str, Any], statuses: Iterable[stacks.ServiceStatus],
                     restored: Iterable[str] = ()) -> Dict[str, Any]:
    """Advance each service's restart counter; ``restored`` are ``project/service`` keys the watchdog acted on.

    Docker's RestartCount belongs to one container and starts at 0 when it is re-created, so the
    counter keeps its own total: it adds the growth of RestartCount for the same container, the
    whole RestartCount of a new one, and one per watchdog action.
    """
    services = state.setdefault("services", {})
    restored = list(restored)
    for status in statuses:
        if status.container_id is None:
            continue
        key = "%s/%s/%s" % (status.project, status.service, status.container)
        entry = services.get(key) or {"container_id": None, "restart_count": 0, "total": 0}
        if entry.get("container_id") == status.container_id:
            grown = max(0, status.restarts - int(entry.get("restart_count") or 0))
        else:
            grown = status.restarts
        entry.update(container_id=status.container_id, restart_count=status.restarts,
                     total=int(entry.get("total") or 0) + grown)
        services[key] = entry
    for key in restored:
        matching = [k for k in services if k.startswith(key + "/")] or [key + "/"]
        for name in matching:
            entry = services.setdefault(name, {"container_id": None, "restart_count": 0, "total": 0})
            entry["total"] = int(entry.get("total") or 0) + 1
    return state


def restart_totals(state: Dict[str, Any]) -> Dict[tuple, int]:
    """{(stack, service): restarts} summed over the service's containers."""
    totals: Dict[tuple, int] = {}
    for key, entry in (state.get("services") or {}).items():
        parts = key.split("/")
        if len(parts) >= 2:
            pair = (parts[0], parts[1])
            totals[pair] = totals.get(pair, 0) + int(entry.get("total") or 0)
    return totals


class _Collector(object):
    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


def render(statuses: Optional[List[stacks.ServiceStatus]], maintenance: Dict[str, bool], totals: Dict[tuple, int],
           last_run: float, last_success: Optional[float]) -> str:
    """The textfile. ``statuses`` None (Docker unreachable) leaves out the per-service series."""
    if not HAS_PROMETHEUS_CLIENT:
        raise stacks.StackError("prometheus_client is missing: install python3-prometheus-client on the host")
    labels = ["stack", "service"]
    up = GaugeMetricFamily("squaremcp_stack_service_up", "1 while a container of the Compose service runs.",
                           labels=labels)
    healthy = GaugeMetricFamily(
        "squaremcp_stack_service_healthy",
        "1 while the service runs and its health check passes (no health check: while it runs).", labels=labels)
    restarts = CounterMetricFamily(
        "squaremcp_stack_service_restarts",
        "Restarts by Docker's restart policy plus starts, restarts and re-creations by the watchdog.", labels=labels)
    families = [up, healthy, restarts]
    if statuses is not None:
        seen = {}
        for status in statuses:
            pair = (status.project, status.service)
            running = status.state == "running"
            good = status.ok
            previous = seen.get(pair)
            # Several containers of one service (scale): up/healthy only when all are.
            seen[pair] = (running and (previous is None or previous[0]), good and (previous is None or previous[1]))
        for (stack, service), (running, good) in sorted(seen.items()):
            up.add_metric([stack, service], 1 if running else 0)
            healthy.add_metric([stack, service], 1 if good else 0)
            restarts.add_metric([stack, service], totals.get((stack, service), 0))
    flag = GaugeMetricFamily("squaremcp_stack_maintenance", "1 while the stack's maintenance flag file exists.",
                             labels=["stack"])
    for stack, value in sorted(maintenance.items()):
        flag.add_metric([stack], 1 if value else 0)
    families.append(flag)
    families.append(GaugeMetricFamily("squaremcp_stack_watchdog_last_run_timestamp_seconds",
                                      "When the stacks watchdog last ran.", value=last_run))
    success = GaugeMetricFamily(
        "squaremcp_stack_watchdog_last_success_timestamp_seconds",
        "When a watchdog run last ended with every service outside maintenance up and healthy.")
    if last_success is not None:
        success.add_metric([], last_success)
    families.append(success)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(families))
    return generate_latest(registry).decode("utf-8")

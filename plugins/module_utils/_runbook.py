# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runbook findings: what the runbooks collected on the hosts, compared with what the inventory says, as a list of
findings (kind, host, subject, one line for people, the fix, whether ``-e repair=true`` fixes it).

Used by the filter ``squaremcp.infra.runbook_findings`` (the runbooks decide what to repair from it) and by the module
``squaremcp.infra.runbook_report`` (which renders and writes the report, module_utils/_runbook_report.py). Plain
Python: the unit tests feed it collected data.

Collected data (one phase of a run)::

    {"hosts": {HOST: {"reached": bool, "error": str}},
     "edge": {HOST: {"docker_ps": TEXT, "container": {...}, "traefik": <traefik_facts result>}},
     "cluster": {HOST: {"daemonsets": <microk8s_host_ports result>, "mismatches": [...], "error": str}},
     "stacks": {HOST: {"services": [...], "problems": [...], "error": str}},
     "monitoring": {HOST: {"prometheus": {...}, "alertmanager": {...}, "alerts": [...], "error": str}}}

Expected (from the inventory): edge_owner, cluster_nodes, routers per managed file, managed_files, container,
cert_min_days, commands (repair, ...).
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.squaremcp.infra.plugins.module_utils.microk8s import edge_guard, parse_docker_ps

CRITICAL, WARNING, INFO = "critical", "warning", "info"
SEVERITIES = (CRITICAL, WARNING, INFO)
# Which repair step fixes a kind (the runbook runs the step for the hosts that have such a finding).
REPAIR_STEPS = {"edge": "re-sync the edge (traefik role: container, static and dynamic files, quarantine)",
                "certs": "re-sync the certificates (cert_rotation sync)",
                "k8s": "move the cluster ingress behind the edge and reconcile the Ingress classes (microk8s role)",
                "stacks": "restore the stacks in dependency order (stack_health restore)"}


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str
    host: str
    subject: str
    summary: str
    severity: str = CRITICAL
    repair: str = ""  # the REPAIR_STEPS key that fixes it; empty: repair=true cannot
    fix: str = ""     # what to run or do
    path: str = ""    # the file it is about, if any

    @property
    def id(self) -> str:
        return "%s:%s:%s" % (self.kind, self.host, self.subject)

    def as_dict(self) -> dict[str, t.Any]:
        out = dataclasses.asdict(self)
        out["id"] = self.id
        out["repairable"] = bool(self.repair)
        return out


SECTIONS = ("edge", "cluster", "stacks", "monitoring")


def assemble(collected: t.Mapping[str, t.Any], phase: str, targets: t.Sequence[str]) -> dict[str, t.Any]:
    """The data of one phase from what every targeted host recorded (``runbook_collected[phase]``: ``reached``,
    ``error`` and one entry per section it collected). A host that recorded nothing never ran the collection."""
    data: dict[str, t.Any] = {"hosts": {}}
    for section in SECTIONS:
        data[section] = {}
    for host in targets:
        got = ((collected.get(host) or {}).get(phase)) if isinstance(collected.get(host), dict) else None
        if not got:
            data["hosts"][host] = {"reached": False, "error": "the collection did not run on %s (an earlier play "
                                                              "failed for it, or it was left out with --limit)" % host}
            continue
        data["hosts"][host] = {"reached": bool(got.get("reached", True)), "error": got.get("error") or ""}
        for section in SECTIONS:
            if got.get(section) is not None and got.get("reached", True):
                data[section][host] = got[section]
    return data


def problems(findings: t.Iterable[Finding]) -> list[Finding]:
    """The findings that make a run fail (critical and warning; info is listed only)."""
    return [f for f in findings if f.severity != INFO]


class _Builder(object):
    def __init__(self, expected: t.Mapping[str, t.Any], repaired: bool):
        self.expected = expected
        self.repaired = repaired
        self.commands = expected.get("commands") or {}
        self.found: list[Finding] = []

    def add(self, kind: str, host: str, subject: str, summary: str, severity: str = CRITICAL, repair: str = "",
            manual: str = "", path: str = "") -> None:
        if repair and not self.repaired and self.commands.get("repair"):
            fix = "%s (%s)" % (self.commands["repair"], REPAIR_STEPS[repair])
        else:
            fix = manual or ("repair=true did not clear it: %s" % REPAIR_STEPS[repair] if repair else "")
        self.found.append(Finding(kind, host, subject, summary, severity, repair, fix, path))


def findings(data: t.Mapping[str, t.Any], expected: t.Mapping[str, t.Any], repaired: bool = False) -> list[Finding]:
    """Every finding of one phase, sorted by host, then severity, then kind. ``repaired``: this phase follows a
    repair (a fix that repair already tried is then described instead of suggested again)."""
    build = _Builder(expected, repaired)
    for host, facts in sorted((data.get("hosts") or {}).items()):
        if not facts.get("reached", True):
            build.add("host_unreachable", host, host, "could not collect from %s: %s" % (host, facts.get("error") or
                      "unreachable"), manual="check that %s is up and reachable: ansible %s -m ansible.builtin.ping"
                      % (host, host))
    cluster_ports = _cluster_ports(data)
    for host, edge in sorted((data.get("edge") or {}).items()):
        host_build = _Builder(dict(expected, **(expected.get("per_host") or {}).get(host, {})), repaired)
        _edge_findings(host_build, host, edge, cluster_ports if host in (expected.get("cluster_nodes") or []) else [])
        build.found.extend(host_build.found)
    for host, cluster in sorted((data.get("cluster") or {}).items()):
        _cluster_findings(build, host, cluster)
    for host, stacks in sorted((data.get("stacks") or {}).items()):
        _stack_findings(build, host, stacks)
    for host, monitoring in sorted((data.get("monitoring") or {}).items()):
        _monitoring_findings(build, host, monitoring)
    order = {severity: index for index, severity in enumerate(SEVERITIES)}
    kinds = set(expected.get("kinds") or [])  # a runbook about one concern reports only its kinds
    return sorted((f for f in build.found if not kinds or f.kind in kinds),
                  key=lambda f: (f.host, order.get(f.severity, 9), f.kind, f.subject))


def _cluster_ports(data: t.Mapping[str, t.Any]) -> list[int]:
    ports: set[int] = set()
    for cluster in (data.get("cluster") or {}).values():
        ports.update((cluster.get("daemonsets") or {}).get("ports") or [])
    return sorted(ports)


def _edge_findings(build: _Builder, host: str, edge: t.Mapping[str, t.Any], cluster_ports: list[int]) -> None:
    expected = build.expected
    if edge.get("error"):
        build.add("edge_unreadable", host, host, "could not read the edge on %s: %s" % (host, edge["error"]),
                  manual="run the runbook with -vvv and check the edge host")
        return
    owner = expected.get("edge_owner") or ""
    guard = edge_guard(edge.get("docker_ps") or "", cluster_ports, owner, require_owner=bool(owner))
    container = edge.get("container") or {}
    if not guard["ok"]:
        if owner == "docker":
            step = "k8s" if guard["conflicts"] else "edge"
            build.add("edge_ports", host, "80/443", guard["message"], repair=step)
        else:
            build.add("edge_ports", host, "80/443", guard["message"],
                      manual="decide who owns 80/443 and record it (microk8s_edge_owner), then run this runbook again")
    name = container.get("name") or expected.get("container") or "traefik"
    if not container.get("exists", True):
        build.add("edge_container", host, name, "the Traefik container %s does not exist" % name, repair="edge")
    elif container and container.get("state") != "running":
        build.add("edge_container", host, name, "the Traefik container %s is %s (exit code %s)" % (
            name, container.get("state") or "not running", container.get("exit_code")), repair="edge")
    elif container.get("health") == "unhealthy":
        build.add("edge_container", host, name, "the Traefik container %s is unhealthy (%s)" % (
            name, container.get("health_output") or "failing health check"), repair="edge")
    traefik = edge.get("traefik") or {}
    if not traefik:
        return
    endpoint = traefik.get("endpoint") or {}
    if endpoint.get("checked") and not endpoint.get("answered") and container.get("state", "running") == "running":
        build.add("edge_endpoint", host, "%s:%s" % (endpoint.get("host"), endpoint.get("port")),
                  "nothing answers on %s" % (endpoint.get("error") or endpoint.get("port")), repair="edge")
    _static_findings(build, host, traefik.get("static") or {}, edge.get("docker_ps") or "", name)
    _router_findings(build, host, traefik)
    _certificate_findings(build, host, traefik, endpoint)


def _static_findings(build: _Builder, host: str, static: t.Mapping[str, t.Any], docker_ps: str | list,
                     container: str) -> None:
    if static and not static.get("parses"):
        build.add("static_config", host, os.path.basename(static.get("path") or "traefik.yml"),
                  "the static configuration does not parse: %s" % static.get("error"), repair="edge")
    for problem in static.get("problems") or []:
        if not problem.startswith("api.insecure"):
            build.add("static_config", host, problem.split(":", 1)[0], "traefik.yml: %s" % problem, WARNING,
                      repair="edge")
    if static.get("api_insecure"):
        build.add("dashboard_exposed", host, "api.insecure",
                  "the dashboard and API are served without authentication (api.insecure: true in traefik.yml)",
                  repair="edge")
    listed = parse_docker_ps(docker_ps) if isinstance(docker_ps, str) else docker_ps
    published = {c["name"]: c["ports"] for c in listed}
    if 8080 in published.get(container, []):
        build.add("dashboard_exposed", host, "8080", "the Traefik container publishes port 8080 (the insecure "
                  "dashboard port) on the host", repair="edge")


def _router_findings(build: _Builder, host: str, traefik: t.Mapping[str, t.Any]) -> None:
    expected = build.expected
    wanted = {name: fname for fname, names in (expected.get("routers") or {}).items() for name in names}
    managed = set(expected.get("managed_files") or []) | set(expected.get("routers") or {})
    unparsable = {os.path.basename(p) for p in traefik.get("unparsable") or []}
    for file in traefik.get("files") or []:
        if not file.get("parses"):
            build.add("route_file_unparsable", host, file["name"], "%s does not parse, so Traefik drops every "
                      "file-provider route: %s" % (file["path"], file.get("error")), repair="edge", path=file["path"])
    routers = traefik.get("routers") or {}
    for name, fname in sorted(wanted.items()):
        if name not in routers and fname not in unparsable:
            build.add("router_missing", host, name, "router %s (%s in the inventory) is not on the host" % (name, fname),
                      repair="edge")
        elif name in routers and os.path.basename(routers[name]["file"]) != fname:
            build.add("router_misplaced", host, name, "router %s is defined in %s, not in %s" % (
                name, routers[name]["file"], fname), repair="edge")
    for name, router in sorted(routers.items()):
        if name in wanted:
            continue
        where = os.path.basename(router["file"])
        known = "" if where in managed else " (a file the inventory does not know: repair moves it to quarantine)"
        build.add("router_extra", host, name, "router %s in %s%s is not in the inventory (hosts: %s)" % (
            name, router["file"], known, ", ".join(router.get("hosts") or []) or "-"), repair="edge", path=router["file"])
    for duplicate in traefik.get("duplicate_routers") or []:
        build.add("router_duplicate", host, duplicate["router"], "router %s is defined in %s; Traefik keeps the first"
                  % (duplicate["router"], " and ".join(duplicate["files"])), WARNING, repair="edge")
    dashboard = traefik.get("dashboard") or {}
    for entry in dashboard.get("unprotected") or []:
        missing = [what for what, present in (("authentication", entry["auth"]), ("TLS", entry["tls"])) if not present]
        build.add("dashboard_exposed", host, entry["router"], "router %s (%s) reaches the Traefik API without %s" % (
            entry["router"], entry["file"], " and ".join(missing)), repair="edge")


def _certificate_findings(build: _Builder, host: str, traefik: t.Mapping[str, t.Any],
                          endpoint: t.Mapping[str, t.Any]) -> None:
    min_days = int(build.expected.get("cert_min_days", 14))
    for cert in traefik.get("certificate_files") or []:
        domains = ", ".join(cert.get("domains") or []) or "?"
        if cert.get("error"):
            build.add("certificate_file", host, cert["cert_file"], "certificate file %s: %s" % (
                cert["cert_file"], cert["error"]), repair="certs")
        elif cert.get("days_left") is not None and cert["days_left"] < min_days:
            build.add("certificate_file", host, cert["cert_file"], "the certificate for %s (%s) expires in %d day(s), "
                      "on %s" % (domains, cert["cert_file"], cert["days_left"], cert["not_after"]),
                      CRITICAL if cert["days_left"] < 3 else WARNING, repair="certs")
    if not endpoint.get("answered"):
        return
    for served in endpoint.get("served") or []:
        name = served["server_name"]
        if not served.get("answered"):
            build.add("certificate_served", host, name, "the TLS handshake for %s failed: %s" % (name, served.get("error")),
                      repair="certs")
        elif served.get("days_left") is not None and served["days_left"] < min_days:
            build.add("certificate_served", host, name, "the edge serves %s a certificate that expires in %d day(s), on "
                      "%s" % (name, served["days_left"], served["not_after"]),
                      CRITICAL if served["days_left"] < 3 else WARNING, repair="certs")
        elif not served.get("covers"):
            build.add("certificate_served", host, name, "the edge serves %s a certificate for %s" % (
                name, ", ".join(served.get("domains") or []) or "no name"), WARNING, repair="certs")


def _unreadable(build: _Builder, kind: str, host: str, facts: t.Mapping[str, t.Any], what: str, manual: str) -> bool:
    """A finding when a section could not be read at all (then nothing else is said about it)."""
    if facts.get("error"):
        build.add(kind, host, host, "could not read %s on %s: %s" % (what, host, facts["error"]), manual=manual)
    return bool(facts.get("error"))


def _cluster_findings(build: _Builder, host: str, cluster: t.Mapping[str, t.Any]) -> None:
    if _unreadable(build, "cluster_api", host, cluster, "the cluster", "check the cluster on %s (microk8s status "
                   "--wait-ready) and microk8s_kubeconfig_path" % host):
        return
    for mismatch in cluster.get("mismatches") or []:
        subject = "%s/%s" % (mismatch.get("namespace"), mismatch.get("name"))
        build.add("ingress_unserved", host, subject, mismatch.get("reason") or "Ingress %s is served by no running "
                  "controller" % subject, repair="k8s")


def _stack_findings(build: _Builder, host: str, stacks: t.Mapping[str, t.Any]) -> None:
    if _unreadable(build, "stacks_unreadable", host, stacks, "the stacks",
                   "check the Docker engine on %s (systemctl status docker)" % host):
        return
    for problem in stacks.get("problems") or []:
        subject = "%s/%s" % (problem.get("project"), problem.get("service"))
        state = problem.get("state") or "missing"
        detail = state if state != "exited" else "exited (exit code %s)" % problem.get("exit_code")
        if state == "running" and problem.get("health") not in (None, "", "none", "healthy"):
            detail = "running but %s" % problem.get("health")
        summary = "service %s: %s" % (subject, problem.get("problem") or detail)
        if problem.get("maintenance"):  # the operator's flag: reported, never restored
            build.add("stack_service", host, subject, summary + " (stack in maintenance)", INFO,
                      manual="remove the maintenance flag of %s when the work is done" % problem.get("project"))
        else:
            build.add("stack_service", host, subject, summary, repair="stacks")


def _monitoring_findings(build: _Builder, host: str, monitoring: t.Mapping[str, t.Any]) -> None:
    for component in ("prometheus", "alertmanager"):
        facts = monitoring.get(component) or {}
        if facts and not facts.get("ready"):
            build.add("monitoring_down", host, component, "%s does not answer on %s: %s" % (
                component.capitalize(), facts.get("url"), facts.get("error") or "not ready"), WARNING,
                manual=build.commands.get("monitoring") or "converge the monitoring role (playbooks/monitoring.yml)")
    for alert in monitoring.get("alerts") or []:
        if alert.get("name") == "Watchdog":
            continue
        build.add("alert_firing", host, "%s:%s" % (alert.get("name"), alert.get("instance") or ""),
                  "alert %s is %s (%s): %s" % (alert.get("name"), alert.get("state") or "firing",
                                               alert.get("severity") or "-", alert.get("summary") or ""), INFO)


DASHBOARD_ROUTER = "traefik-dashboard"  # the traefik role's dashboard router (roles/traefik/vars/main.yml)


def edge_expectations(host_vars: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What the inventory says one edge host's Traefik holds: routers per file of the roles, the container name."""
    routers = host_vars.get("traefik_routes_routers") or {}
    dashboard = host_vars.get("traefik_dashboard_enabled", True)
    config = host_vars.get("cert_rotation_config_path") or "certificates.yml"
    return {"routers": {"routes.yml": sorted(routers), "dashboard.yml": [DASHBOARD_ROUTER] if dashboard else []},
            "managed_files": ["routes.yml", "dashboard.yml", os.path.basename(str(config))],
            "container": host_vars.get("traefik_container_name") or "traefik"}


def collects_stacks(host_vars: t.Mapping[str, t.Any]) -> bool:
    """Whether the runbooks read (and with repair=true restore) one Docker host's Compose stacks: what
    ``runbook_stacks_enabled`` says where the inventory sets it, else whether the host has stacks (``stacks_stacks``)."""
    enabled = host_vars.get("runbook_stacks_enabled")
    if enabled is not None and enabled != "":
        return boolean(enabled, strict=False)
    return bool(host_vars.get("stacks_stacks"))


def quarantine_files(found: t.Iterable[Finding | t.Mapping[str, t.Any]], host: str,
                     managed_files: t.Sequence[str]) -> list[str]:
    """Files of ``host``'s dynamic directory the repair moves to quarantine: those that hold routers the inventory
    does not list and that no role owns (the traefik role rewrites its own files; unparsable ones it moves itself)."""
    paths = set()
    for finding in found:
        item = finding.as_dict() if isinstance(finding, Finding) else finding
        if item["host"] == host and item["kind"] == "router_extra" and item.get("path") \
                and os.path.basename(item["path"]) not in managed_files:
            paths.add(item["path"])
    return sorted(paths)


def http_ready(url: str, answers: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """{url, ready, error} of a component from the uri results of its /-/ready probe (keyed by URL)."""
    answer = answers.get(url) or {}
    ready = answer.get("status") == 200
    return {"url": url, "ready": ready,
            "error": "" if ready else (answer.get("msg") or "HTTP %s" % answer.get("status", "-"))}


def repair_steps(found: t.Iterable[Finding | t.Mapping[str, t.Any]]) -> dict[str, list[str]]:
    """{step: [hosts]} the repair must run for these findings."""
    steps: dict[str, set[str]] = {}
    for finding in found:
        item = finding.as_dict() if isinstance(finding, Finding) else finding
        if item.get("repair") and item.get("severity") != INFO:
            steps.setdefault(item["repair"], set()).add(item["host"])
    return {step: sorted(hosts) for step, hosts in sorted(steps.items())}

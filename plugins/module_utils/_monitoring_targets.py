# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the monitoring host scrapes and probes, derived from the inventory.

Hosts come from the inventory groups (the monitoring host, the edge hosts, the Docker hosts), each
with the address the monitoring host reaches it at: 127.0.0.1 for itself, else its
``monitoring_address`` or ``ansible_host``. Blackbox targets come from the edge hosts' Traefik
routers (every host name of every router, through the collection's rule parser), so a route added
to the inventory is probed with no other change. Messages name the inventory variable and the fix.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import RuleError, rule_hosts

LOOPBACK = "127.0.0.1"
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


@dataclass
class Host:
    """One inventory host the monitoring host scrapes."""

    name: str
    address: str
    edge: bool = False
    docker: bool = False
    traefik_port: int = 8082
    traefik_bind: str = ""
    routers: Dict[str, Any] = field(default_factory=dict)
    https_port: int = 443
    virtual_ip: str = ""


@dataclass
class Probes:
    """Blackbox targets per module: public URLs (HTTP 2xx), host:443 (TLS) and Hermes' health URLs."""

    http: List[str] = field(default_factory=list)
    tls: List[str] = field(default_factory=list)
    hermes: List[str] = field(default_factory=list)


def is_host_port(target: Any) -> bool:
    """``host:port`` (IPv6 in brackets) with a port in 1..65535."""
    match = _HOST_PORT.match(target) if isinstance(target, str) else None
    return bool(match) and 0 < int(match.group(1)) < 65536


def is_http_url(url: Any) -> bool:
    """An absolute http(s) URL with a host (the value itself never goes into a message: it may hold a token)."""
    if not isinstance(url, str) or url != url.strip():
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def local_address(listen_address: str) -> str:
    """Where the monitoring host reaches its own services that listen on ``listen_address``."""
    return LOOPBACK if listen_address in ("", "0.0.0.0", "::", "[::]") else listen_address


def host_facts(table: Mapping[str, List[Any]]) -> Dict[str, Dict[str, Any]]:
    """``{"names": [h1, h2], key: [value of h1, value of h2], ...}`` (hostvars read column-wise) -> per host."""
    names = list(table.get("names") or [])
    return {name: {key: values[index] for key, values in table.items() if key != "names" and index < len(values)}
            for index, name in enumerate(names)}


def hosts_from_inventory(options: Mapping[str, Any]) -> List[Host]:
    """The scraped hosts, monitoring host first, in inventory order, without duplicates."""
    me = options["monitoring_host"]
    edge, docker = list(options.get("edge_hosts") or []), list(options.get("docker_hosts") or [])
    facts = host_facts(options.get("host_facts") or {})
    hosts = []
    for name in [me] + edge + docker:
        if name in [h.name for h in hosts]:
            continue
        fact = facts.get(name) or {}
        address = LOOPBACK if name == me else (fact.get("monitoring_address") or fact.get("ansible_host") or name)
        hosts.append(Host(name=name, address=str(address), edge=name in edge, docker=name in docker,
                          traefik_port=int(fact.get("traefik_internal_port") or 8082),
                          traefik_bind=str(fact.get("traefik_internal_bind_address") or ""),
                          routers=fact.get("traefik_routes_routers") or {},
                          https_port=int(fact.get("traefik_https_port") or 443),
                          virtual_ip=str(fact.get("edge_failover_virtual_ip") or "")))
    return hosts


def _host_port(address: str, port: int) -> str:
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def edge_probes(hosts: List[Host], me: str) -> List[Dict[str, Any]]:
    """file_sd entries of the edge probes (module edge_tls): each edge host other than the monitoring host
    directly (label path="direct"), and every floating IP of the edges (path="floating_ip"); label edge
    names the host, or the floating IP. The monitoring host's own edge is seen by the route probes."""
    entries: List[Dict[str, Any]] = []
    vips: List[Tuple[str, int]] = []
    for host in (h for h in hosts if h.edge):
        if host.name != me:
            entries.append({"targets": [_host_port(host.address, host.https_port)],
                            "labels": {"module": "edge_tls", "edge": host.name, "path": "direct"}})
        if host.virtual_ip and (host.virtual_ip, host.https_port) not in vips:
            vips.append((host.virtual_ip, host.https_port))
    for vip, port in vips:
        entries.append({"targets": [_host_port(vip, port)],
                        "labels": {"module": "edge_tls", "edge": vip, "path": "floating_ip"}})
    return entries


def traefik_target(host: Host, me: str, problems: List[str]) -> Optional[str]:
    """Where Prometheus scrapes Traefik's internal entry point (ping + metrics) on an edge host."""
    if not host.traefik_bind:
        problems.append("edge host %s does not publish Traefik's internal entry point (ping + metrics, port %d): set "
                        "traefik_internal_bind_address for it (127.0.0.1 when Prometheus runs on the same host), or "
                        "monitoring_scrape_traefik: false" % (host.name, host.traefik_port))
        return None
    if host.name == me:
        return "%s:%d" % (local_address(host.traefik_bind), host.traefik_port)
    if _is_loopback(host.traefik_bind):
        problems.append("edge host %s publishes Traefik's internal entry point on %s only, which the monitoring host %s "
                        "cannot reach: set its traefik_internal_bind_address to a private address of %s"
                        % (host.name, host.traefik_bind, me, host.name))
        return None
    bind = host.traefik_bind
    return "%s:%d" % (host.address if bind in ("0.0.0.0", "::") else bind, host.traefik_port)


def _router_scheme(router: Mapping[str, Any]) -> str:
    entry_points = router.get("entryPoints") or []
    return "https" if router.get("tls") is not None or "websecure" in entry_points or not entry_points else "http"


def probe_targets(hosts: List[Host], options: Mapping[str, Any], problems: List[str]) -> Probes:
    """Blackbox targets from the edge hosts' routers, the Hermes router and the extra URLs."""
    excluded_routers = set(options.get("probe_exclude_routers") or [])
    excluded_hosts = set(options.get("probe_exclude_hosts") or [])
    hermes_router = options.get("hermes_health_router") or ""
    hermes_path = options.get("hermes_health_path") or "/health"
    probes = Probes()
    seen_hermes = False
    for host in (h for h in hosts if h.edge):
        if not isinstance(host.routers, dict):
            problems.append("traefik_routes_routers of edge host %s must be a mapping of router name -> router" % host.name)
            continue
        for name in sorted(host.routers):
            router = host.routers[name]
            where = "traefik_routes_routers.%s (edge host %s)" % (name, host.name)
            if not isinstance(router, dict) or not isinstance(router.get("rule"), str):
                problems.append("%s has no rule to take host names from" % where)
                continue
            try:
                names = rule_hosts(router["rule"])
            except RuleError as exc:
                problems.append("%s: %s" % (where, exc))
                continue
            if name == hermes_router:
                seen_hermes = True
                for public in names:
                    _add(probes.hermes, "https://%s%s" % (public, hermes_path))
            if name in excluded_routers:
                continue
            if not names:
                problems.append("%s has no Host(`...`) matcher, so there is no public name to probe: add one, or list the "
                                "router in monitoring_probe_exclude_routers" % where)
                continue
            scheme = _router_scheme(router)
            for public in names:
                if public in excluded_hosts:
                    continue
                _add(probes.http, "%s://%s/" % (scheme, public))
                if scheme == "https":
                    _add(probes.tls, "%s:443" % public)
    if hermes_router and not seen_hermes and any(h.edge for h in hosts):
        problems.append("monitoring_hermes_health_router: no edge host has a router named %s in traefik_routes_routers "
                        "(set it to Hermes' router, or to \"\" to probe no Hermes health endpoint)" % hermes_router)
    if hermes_router and seen_hermes and not probes.hermes:
        problems.append("monitoring_hermes_health_router: router %s has no Host(`...`) matcher to build Hermes' health URL "
                        "from" % hermes_router)
    for index, url in enumerate(options.get("probe_extra_urls") or []):
        if not is_http_url(url):
            problems.append("monitoring_probe_extra_urls[%d] is not an absolute http(s) URL with a host name" % index)
            continue
        _add(probes.http, url)
        parts = urlsplit(url)
        if parts.scheme == "https":
            _add(probes.tls, "%s:%d" % (parts.hostname, parts.port or 443))
    return probes


def _add(targets: List[str], target: str) -> None:
    if target not in targets:
        targets.append(target)


def static_targets(config: Mapping[str, Any], where: str, problems: List[str]) -> List[Tuple[str, Dict[str, Any]]]:
    """(target, labels) of a scrape config's static_configs; every target must be host:port."""
    found = []
    statics = config.get("static_configs") or []
    if not isinstance(statics, list):
        problems.append("%s.static_configs must be a list" % where)
        return found
    for index, static in enumerate(statics):
        targets = static.get("targets") if isinstance(static, dict) else None
        if not isinstance(targets, list) or not targets:
            problems.append("%s.static_configs[%d].targets must be a non-empty list of host:port" % (where, index))
            continue
        for target in targets:
            if not is_host_port(target):
                problems.append("%s.static_configs[%d]: target %r has no port: write host:port (e.g. 127.0.0.1:3000)"
                                % (where, index, target))
            else:
                found.append((target, static.get("labels") or {}))
    return found

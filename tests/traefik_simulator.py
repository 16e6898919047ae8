# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which router Traefik v3 would pick for a request: a test-only simulator over the collection's rule
parser (the Traefik binary cannot run here). Used to check that route tables route what they promise."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import RuleError, parse_rule_tree


def _host_matches(pattern, host):
    """Traefik v3's Host: the literal name, case-insensitively, a trailing dot on either side ignored."""
    return pattern.lower().rstrip(".") == host.lower().rstrip(".")


def _matches(tree, request):
    kind = tree[0]
    if kind == "or":
        return _matches(tree[1], request) or _matches(tree[2], request)
    if kind == "and":
        return _matches(tree[1], request) and _matches(tree[2], request)
    if kind == "not":
        return not _matches(tree[1], request)
    matcher = tree[1]
    name, values = matcher.name, matcher.values
    if name == "Host":
        return _host_matches(values[0], request["host"])
    if name == "Path":
        return request["path"] == values[0]
    if name == "PathPrefix":
        return request["path"].startswith(values[0])
    if name == "Method":
        return request["method"] == values[0].upper()
    if name in ("HostRegexp", "PathRegexp"):
        # HostRegexp sees the canonized host: lower-cased, without the port.
        subject = request["host"].lower() if name == "HostRegexp" else request["path"]
        return re.search(values[0], subject) is not None
    if name in ("Header", "HeaderRegexp"):
        value = request["headers"].get(values[0])
        return value is not None and (value == values[1] if name == "Header" else re.search(values[1], value) is not None)
    if name in ("Query", "QueryRegexp"):
        given = request["query"].get(values[0])
        wanted = values[1] if len(values) > 1 else ""
        return given is not None and (given == wanted if name == "Query" else re.search(wanted, given) is not None)
    if name == "ClientIP":
        return ipaddress.ip_address(request["client_ip"]) in ipaddress.ip_network(values[0], strict=False)
    raise RuleError("cannot evaluate %s" % name)


def route_request(routers, host, path, method="GET", headers=None, query=None, client_ip="127.0.0.1",
                  entry_point=None):
    """Name of the HTTP router Traefik would pick for a request, or None.

    Routers are tried by priority (the ``priority`` option, else the rule's length), highest first,
    as Traefik does; regular expressions use Python's ``re`` (close to Go's RE2 for such rules).
    """
    request = {"host": host, "path": path, "method": method, "headers": headers or {}, "query": query or {},
               "client_ip": client_ip}
    ranked = sorted(routers.items(), key=lambda item: (-(item[1].get("priority") or len(item[1]["rule"])), item[0]))
    for name, router in ranked:
        if entry_point and router.get("entryPoints") and entry_point not in router["entryPoints"]:
            continue
        if _matches(parse_rule_tree(router["rule"]), request):
            return name
    return None

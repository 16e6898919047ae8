# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of one Traefik v3 configuration file on its own: a dynamic (file provider) document
(:func:`check_document`) or the static configuration with the edge's policy (:func:`check_static`).

Every problem is ``<where>: <what is wrong> (<what to do>)``; no message shows a secret value.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, List

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import (
    ACCESS_LOG_FORMATS, ANY, DYNAMIC_SECTIONS, HTTP_MIDDLEWARE_KINDS, HTTP_ROUTER, HTTP_SERVICE_KINDS, LOG_LEVELS,
    REMOVED_KEYS, SERVERS_TRANSPORT, STATIC_SPEC, STATIC_TOP, TCP_MIDDLEWARE_KINDS, TCP_ROUTER, TCP_SERVICE_KINDS,
    TLS_SECTION, UDP_ROUTER, UDP_SERVICE_KINDS, MapOf, check_shape, did_you_mean, shown_url, value_kind)
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import RuleError, check_regexp, parse_rule


def _one_kind(entry, kinds, where, problems, what):
    """Check an entry that must hold exactly one of ``kinds``; return that kind or None."""
    if not isinstance(entry, dict):
        problems.append("%s: must be a mapping with one of %s, got %s"
                        % (where, ", ".join(sorted(kinds)), value_kind(entry, secret=True)))
        return None
    present = [key for key in entry if key in kinds]
    unknown = [key for key in entry if key not in kinds]
    for key in unknown:
        if key in REMOVED_KEYS:
            problems.append("%s.%s: not supported by Traefik v3: use %s" % (where, key, REMOVED_KEYS[key]))
        else:
            problems.append("%s.%s: unknown %s kind%s; known kinds: %s" % (
                where, key, what, did_you_mean(str(key), kinds), ", ".join(sorted(kinds))))
    if len(present) != 1:
        if not unknown:
            problems.append("%s: a %s needs exactly one of %s, got %s" % (
                where, what, ", ".join(sorted(kinds)), ", ".join(present) or "none"))
        return None
    check_shape(entry[present[0]], kinds[present[0]], "%s.%s" % (where, present[0]), problems)
    return present[0]


def _check_url(url: str, where: str, problems: List[str]) -> None:
    """A server or forwardAuth URL; messages never show user and password of a URL."""
    match = re.match(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<userinfo>[^/@\s]*@)?(?P<host>\[[0-9a-fA-F:.]+\]|[^/:?#\s]+)"
                     r"(:(?P<port>[^/?#]*))?(?P<rest>[/?#]\S*)?$", url or "")
    shown = shown_url(url)
    if not match:
        problems.append("%s: %s is not a URL: write scheme://host[:port], e.g. http://hermes:3000" % (where, shown))
        return
    if match.group("scheme") not in ("http", "https", "h2c"):
        problems.append("%s: %s: the scheme must be http, https or h2c" % (where, shown))
    port = match.group("port")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        problems.append("%s: %s: port %r is not a number between 1 and 65535" % (where, shown, port))


def _check_address(address, where, problems):
    match = re.match(r"^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):(\d+)$", address or "") if isinstance(address, str) else None
    if not match or not 0 < int(match.group(2)) < 65536:
        problems.append("%s: %r is not host:port" % (where, address))


def check_templates(doc: Any, problems: List[str], prefix: str = "", where: str = "") -> None:
    """Traefik's file provider runs every file through Go templates: '{{' in a value or a name would be
    evaluated. Ansible templates values but never mapping keys, so a name with '{{' is unrendered Jinja."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = "%s.%s" % (where, key) if where else str(key)
            marker = next((m for m in ("{{", "{%", "{#") if m in key), None) if isinstance(key, str) else None
            if marker:
                problems.append("%s%s: the name contains '%s': Ansible does not template mapping keys, so this is "
                                "unrendered Jinja (and Traefik evaluates '{{' as a Go template); write the name "
                                "literally" % (prefix, here, marker))
            check_templates(value, problems, prefix, here)
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            check_templates(value, problems, prefix, "%s[%d]" % (where, index))
    elif isinstance(doc, str) and "{{" in doc:
        problems.append("%s%s: contains '{{', which Traefik's file provider evaluates as a Go template: "
                        "remove it (an unrendered Jinja expression?)" % (prefix, where))


def check_document(doc, where=""):
    """Structural checks of one dynamic-configuration document (one file) on its own."""
    problems = []
    prefix = where + ": " if where else ""
    if doc is None:
        return problems
    if not isinstance(doc, dict):
        return ["%sthe file must hold a mapping (http:, tcp:, udp:, tls:), got %s" % (prefix, value_kind(doc, secret=True))]
    for section, value in doc.items():
        if section not in DYNAMIC_SECTIONS:
            problems.append("%s%s: unknown top-level key%s; known: %s" % (
                prefix, section, did_you_mean(str(section), DYNAMIC_SECTIONS), ", ".join(DYNAMIC_SECTIONS)))
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append("%s%s: must be a mapping, got %s" % (prefix, section, value_kind(value, secret=True)))
            continue
        for key in value:
            if key not in DYNAMIC_SECTIONS[section]:
                problems.append("%s%s.%s: unknown key%s; known: %s" % (
                    prefix, section, key, did_you_mean(str(key), DYNAMIC_SECTIONS[section]),
                    ", ".join(DYNAMIC_SECTIONS[section])))
    http, tcp, udp = (doc.get(name) if isinstance(doc.get(name), dict) else {} for name in ("http", "tcp", "udp"))
    _check_named(http, "routers", prefix + "http.routers", problems, _check_http_router)
    _check_named(http, "services", prefix + "http.services", problems,
                 lambda e, w, p: _check_service(e, w, p, HTTP_SERVICE_KINDS))
    _check_named(http, "middlewares", prefix + "http.middlewares", problems, _check_http_middleware)
    _check_named(http, "serversTransports", prefix + "http.serversTransports", problems,
                 lambda e, w, p: check_shape(e, SERVERS_TRANSPORT, w, p))
    _check_named(tcp, "routers", prefix + "tcp.routers", problems, _check_tcp_router)
    _check_named(tcp, "services", prefix + "tcp.services", problems,
                 lambda e, w, p: _check_service(e, w, p, TCP_SERVICE_KINDS, tcp=True))
    _check_named(tcp, "middlewares", prefix + "tcp.middlewares", problems,
                 lambda e, w, p: _one_kind(e, TCP_MIDDLEWARE_KINDS, w, p, "middleware"))
    _check_named(tcp, "serversTransports", prefix + "tcp.serversTransports", problems,
                 lambda e, w, p: check_shape(e, MapOf(ANY), w, p))
    _check_named(udp, "routers", prefix + "udp.routers", problems,
                 lambda e, w, p: check_shape(e, UDP_ROUTER, w, p) or _require(e, ("service",), w, p))
    _check_named(udp, "services", prefix + "udp.services", problems,
                 lambda e, w, p: _check_service(e, w, p, UDP_SERVICE_KINDS, tcp=True))
    if isinstance(doc.get("tls"), dict):
        check_shape(doc["tls"], TLS_SECTION, prefix + "tls", problems)
    check_templates({k: v for k, v in doc.items() if k in DYNAMIC_SECTIONS}, problems, prefix)
    return problems


def _check_named(section, kind, where, problems, check):
    entries = section.get(kind) if isinstance(section, dict) else None
    if entries is None:
        return
    if not isinstance(entries, dict):
        problems.append("%s: must be a mapping of name -> definition, got %s" % (where, value_kind(entries, secret=True)))
        return
    for name, entry in entries.items():
        if not isinstance(name, str) or not name:
            problems.append("%s: %r is not a valid name" % (where, name))
            continue
        if "@" in name:
            problems.append("%s.%s: '@' is not allowed in a name (it separates name@provider in references)"
                            % (where, name))
        check(entry, "%s.%s" % (where, name), problems)


def _require(entry, keys, where, problems):
    if isinstance(entry, dict):
        for key in keys:
            if entry.get(key) in (None, "", []):
                problems.append("%s: %s is required" % (where, key))


def _check_rule(entry, where, problems, tcp):
    rule = entry.get("rule") if isinstance(entry, dict) else None
    if isinstance(rule, str):
        try:
            parse_rule(rule, tcp=tcp)
        except RuleError as exc:
            problems.append("%s.rule: %s" % (where, exc))
    syntax = entry.get("ruleSyntax") if isinstance(entry, dict) else None
    if syntax not in (None, "v3"):
        problems.append("%s.ruleSyntax: %r is deprecated or unknown: rewrite the rule in v3 syntax and drop "
                        "ruleSyntax" % (where, syntax))


def _check_http_router(entry, where, problems):
    check_shape(entry, HTTP_ROUTER, where, problems)
    _require(entry, ("rule", "service"), where, problems)
    _check_rule(entry, where, problems, tcp=False)
    if isinstance(entry, dict) and isinstance(entry.get("priority"), int) and entry["priority"] < 0:
        problems.append("%s.priority: must be 0 or more" % where)


def _check_tcp_router(entry, where, problems):
    check_shape(entry, TCP_ROUTER, where, problems)
    _require(entry, ("rule", "service"), where, problems)
    _check_rule(entry, where, problems, tcp=True)


def _check_service(entry, where, problems, kinds, tcp=False):
    kind = _one_kind(entry, kinds, where, problems, "service")
    if kind != "loadBalancer":
        body = entry[kind] if kind and isinstance(entry[kind], dict) else {}
        if kind == "weighted" and not body.get("services"):
            problems.append("%s.weighted.services: list at least one service" % where)
        for key in {"mirroring": ("service",), "failover": ("service", "fallback")}.get(kind, ()):
            if body.get(key) in (None, ""):
                problems.append("%s.%s.%s: required: name the %s service (Traefik refuses the service without it)"
                                % (where, kind, key, "main" if key == "service" else "fallback"))
        return
    servers = entry[kind].get("servers") if isinstance(entry[kind], dict) else None
    if not servers:
        problems.append("%s.loadBalancer.servers: list at least one server (%s)" % (
            where, "address: host:port" if tcp else "url: http://host:port"))
        return
    if not isinstance(servers, list):
        return
    for index, server in enumerate(servers):
        if not isinstance(server, dict):
            continue
        here = "%s.loadBalancer.servers[%d]" % (where, index)
        if tcp:
            _check_address(server.get("address"), here + ".address", problems)
        elif "url" not in server:
            problems.append("%s.url: required" % here)
        elif isinstance(server["url"], str):
            _check_url(server["url"], here + ".url", problems)


def _check_http_middleware(entry, where, problems):
    kind = _one_kind(entry, HTTP_MIDDLEWARE_KINDS, where, problems, "middleware")
    body = entry.get(kind) if kind and isinstance(entry.get(kind), dict) else None
    if body is None:
        return
    if kind in ("basicAuth", "digestAuth") and not body.get("users") and not body.get("usersFile"):
        problems.append("%s.%s: give users or usersFile" % (where, kind))
    if kind == "basicAuth" and isinstance(body.get("users"), list):
        for index, user in enumerate(body["users"]):
            if isinstance(user, str) and not re.match(r"^[^:\s]+:\S+$", user):
                problems.append("%s.basicAuth.users[%d]: must be name:hash (htpasswd format, e.g. from "
                                "`htpasswd -nB name`)" % (where, index))
    if kind == "chain" and not body.get("middlewares"):
        problems.append("%s.chain.middlewares: list at least one middleware" % where)
    if kind == "redirectScheme" and not body.get("scheme"):
        problems.append("%s.redirectScheme.scheme: required (e.g. https)" % where)
    if kind in ("redirectRegex", "replacePathRegex") and isinstance(body.get("regex"), str):
        problem = check_regexp(body["regex"])
        if problem:
            problems.append("%s.%s.regex: %s" % (where, kind, problem))
    if kind == "ipAllowList":
        for index, source in enumerate(body.get("sourceRange") or []):
            try:
                ipaddress.ip_network(str(source), strict=False)
            except ValueError:
                problems.append("%s.ipAllowList.sourceRange[%d]: %r is not an IP address or CIDR range"
                                % (where, index, source))
    if kind == "forwardAuth" and isinstance(body.get("address"), str):
        _check_url(body["address"], where + ".forwardAuth.address", problems)
    if kind == "retry" and "attempts" not in body:
        problems.append("%s.retry.attempts: required" % where)


def _port_of(address):
    match = re.match(r"^(\[[0-9a-fA-F:.]*\]|[^:\[\]]*):(\d+)(/(tcp|udp))?$", address or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        return None
    return int(match.group(2))


def check_static(doc, public_ports=(80, 443)):
    """Check a Traefik v3 static configuration against the structure and the edge's policy:
    dashboard never insecure, file provider on a directory, Docker containers not exposed by
    default, ping/metrics on an internal entry point, one ACME challenge per resolver."""
    if not isinstance(doc, dict):
        return ["the static configuration must be a mapping, got %s" % value_kind(doc, secret=True)]
    problems = []
    for key in doc:
        if key not in STATIC_TOP:
            problems.append("%s: unknown top-level key%s" % (key, did_you_mean(str(key), STATIC_TOP)))
    check_shape({k: v for k, v in doc.items() if k in STATIC_SPEC}, STATIC_SPEC, "static", problems)
    problems = [p.replace("static.", "", 1) for p in problems]
    entry_points = doc.get("entryPoints") if isinstance(doc.get("entryPoints"), dict) else {}
    if not entry_points:
        problems.append("entryPoints: define at least web (:80) and websecure (:443)")
    ports = {}
    for name, ep in entry_points.items():
        if not isinstance(ep, dict):
            continue
        port = _port_of(ep.get("address"))
        if port is None:
            problems.append("entryPoints.%s.address: %r is not [host]:port[/tcp|/udp], e.g. ':443'" % (name, ep.get("address")))
            continue
        if port in ports and (ep.get("address") or "").endswith("/udp") == ports[port][1]:
            problems.append("entryPoints.%s.address: port %d is already used by entry point %s" % (name, port, ports[port][0]))
        ports[port] = (name, (ep.get("address") or "").endswith("/udp"))
        redirect = ((ep.get("http") or {}).get("redirections") or {}).get("entryPoint") if isinstance(ep.get("http"), dict) else None
        if isinstance(redirect, dict):
            target = redirect.get("to")
            if target not in entry_points and _port_of(":%s" % str(target).lstrip(":")) is None:
                problems.append("entryPoints.%s.http.redirections.entryPoint.to: %r is neither an entry point nor a port"
                                % (name, target))
    api = doc.get("api") if isinstance(doc.get("api"), dict) else None
    if api is not None and api.get("insecure"):
        problems.append("api.insecure: true serves the dashboard and API without authentication on the traefik entry "
                        "point (:8080): set it to false and route api@internal through a basicAuth middleware")
    ping = doc.get("ping") if isinstance(doc.get("ping"), dict) else None
    metrics = doc.get("metrics") if isinstance(doc.get("metrics"), dict) else {}
    prometheus = metrics.get("prometheus") if isinstance(metrics.get("prometheus"), dict) else None
    for where, section in (("ping.entryPoint", ping), ("metrics.prometheus.entryPoint", prometheus)):
        if section is None:
            continue
        ep = section.get("entryPoint") or "traefik"
        if ep not in entry_points:
            problems.append("%s: entry point %r is not defined under entryPoints" % (where, ep))
        elif _port_of((entry_points[ep] or {}).get("address")) in public_ports:
            problems.append("%s: %r is a public entry point: serve ping and metrics on an internal one" % (where, ep))
    providers = doc.get("providers") if isinstance(doc.get("providers"), dict) else {}
    file_provider = providers.get("file")
    if isinstance(file_provider, dict):
        if file_provider.get("filename"):
            problems.append("providers.file.filename: point the file provider at a directory (providers.file.directory):"
                            " single files break on atomic renames and cannot be split between writers")
        if not file_provider.get("directory"):
            problems.append("providers.file.directory: required")
        if file_provider.get("watch") is False:
            problems.append("providers.file.watch: false means route changes need a restart: set it to true")
    docker = providers.get("docker")
    if isinstance(docker, dict) and docker.get("exposedByDefault") is not False:
        problems.append("providers.docker.exposedByDefault: set it to false so that only containers labelled "
                        "traefik.enable=true are published")
    resolvers = doc.get("certificatesResolvers") if isinstance(doc.get("certificatesResolvers"), dict) else {}
    for name, resolver in resolvers.items():
        acme = resolver.get("acme") if isinstance(resolver, dict) else None
        if not isinstance(acme, dict):
            continue
        challenges = [c for c in ("dnsChallenge", "httpChallenge", "tlsChallenge") if acme.get(c) is not None]
        if len(challenges) != 1:
            problems.append("certificatesResolvers.%s.acme: configure exactly one of dnsChallenge, httpChallenge, "
                            "tlsChallenge (got %s)" % (name, ", ".join(challenges) or "none"))
        if not acme.get("storage"):
            problems.append("certificatesResolvers.%s.acme.storage: required (e.g. /letsencrypt/acme.json on a volume)"
                            % name)
        if not acme.get("email"):
            problems.append("certificatesResolvers.%s.acme.email: required for the ACME account" % name)
        dns = acme.get("dnsChallenge")
        if isinstance(dns, dict) and not dns.get("provider"):
            problems.append("certificatesResolvers.%s.acme.dnsChallenge.provider: required (e.g. godaddy)" % name)
        http_challenge = acme.get("httpChallenge")
        if isinstance(http_challenge, dict) and http_challenge.get("entryPoint") not in entry_points:
            problems.append("certificatesResolvers.%s.acme.httpChallenge.entryPoint: not an entry point" % name)
    for name, ep in entry_points.items():
        tls = ((ep or {}).get("http") or {}).get("tls") if isinstance(ep, dict) and isinstance(ep.get("http"), dict) else None
        if isinstance(tls, dict) and tls.get("certResolver") and tls["certResolver"] not in resolvers:
            problems.append("entryPoints.%s.http.tls.certResolver: %r is not defined under certificatesResolvers"
                            % (name, tls["certResolver"]))
    core = doc.get("core") if isinstance(doc.get("core"), dict) else {}
    if core.get("defaultRuleSyntax") not in (None, "v3"):
        problems.append("core.defaultRuleSyntax: %r: rules are validated as v3 syntax; remove the option"
                        % core.get("defaultRuleSyntax"))
    log = doc.get("log") if isinstance(doc.get("log"), dict) else {}
    if isinstance(log.get("level"), str) and log["level"].upper() not in LOG_LEVELS:
        problems.append("log.level: %r is not one of %s" % (log["level"], ", ".join(LOG_LEVELS)))
    access = doc.get("accessLog") if isinstance(doc.get("accessLog"), dict) else {}
    if isinstance(access.get("format"), str) and access["format"] not in ACCESS_LOG_FORMATS:
        problems.append("accessLog.format: %r is not one of %s" % (access["format"], ", ".join(ACCESS_LOG_FORMATS)))
    check_templates(doc, problems)
    return problems

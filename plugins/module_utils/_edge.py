# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Traefik edge host holds and serves, read-only (module ``traefik_facts``, the runbooks, the traefik role's
check of its dynamic directory): the static configuration and the dashboard's exposure, every file of the dynamic
directory (parses or not, its routers), the certificate files the dynamic configuration references (days left) and
the certificates the live HTTPS endpoint serves per server name (SNI).

Plain Python over PyYAML and ``cryptography``; parsing and certificate facts come from the collection's Traefik and
certificate code (imported below, in one place).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import ssl
import typing as t

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_checks import check_static
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_config import (
    TraefikConfigError, directory_files, load_file)
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import RuleError, rule_hosts
from ansible_collections.squaremcp.infra.plugins.module_utils import _cert_inspect as certs

AUTH_MIDDLEWARES = ("basicAuth", "digestAuth", "forwardAuth")


@dataclasses.dataclass
class DynamicFile:
    path: str
    parses: bool
    error: str = ""
    routers: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    middlewares: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    certificates: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, t.Any]:
        return {"path": self.path, "name": os.path.basename(self.path), "parses": self.parses, "error": self.error,
                "routers": sorted(self.routers)}


def _section(doc: t.Any, *path: str) -> dict:
    for step in path:
        doc = doc.get(step) if isinstance(doc, dict) else None
    return doc if isinstance(doc, dict) else {}


def read_dynamic(directory: str) -> list[DynamicFile]:
    """Every file Traefik's file provider reads in ``directory``, parsed or with the parse error."""
    files = []
    for path in directory_files(directory):
        try:
            doc = load_file(path)
        except TraefikConfigError as exc:
            files.append(DynamicFile(path=path, parses=False, error="; ".join(exc.problems)))
            continue
        certificates = _section(doc, "tls").get("certificates")
        files.append(DynamicFile(
            path=path, parses=True, routers=dict(_section(doc, "http", "routers")),
            middlewares=dict(_section(doc, "http", "middlewares")),
            certificates=[c for c in certificates if isinstance(c, dict)] if isinstance(certificates, list) else []))
    return files


def _hosts(rule: t.Any) -> list[str]:
    try:
        return rule_hosts(rule) if isinstance(rule, str) else []
    except RuleError:
        return []


def routers(files: t.Sequence[DynamicFile]) -> tuple[dict[str, dict[str, t.Any]], list[dict[str, t.Any]]]:
    """{name: router facts} (the first file wins, as in Traefik) and the names defined in more than one file."""
    found: dict[str, dict[str, t.Any]] = {}
    duplicates = []
    for dynamic in files:
        for name, router in dynamic.routers.items():
            router = router if isinstance(router, dict) else {}
            if name in found:
                duplicates.append({"router": name, "files": [found[name]["file"], dynamic.path]})
                continue
            found[name] = {"file": dynamic.path, "rule": router.get("rule"), "hosts": _hosts(router.get("rule")),
                           "service": router.get("service"), "entryPoints": router.get("entryPoints") or [],
                           "middlewares": router.get("middlewares") or [], "tls": router.get("tls") is not None}
    return found, duplicates


def read_static(path: str) -> dict[str, t.Any]:
    """Facts of the static configuration: parses, dashboard insecure, entry point ports, policy problems."""
    facts: dict[str, t.Any] = {"path": path, "exists": os.path.isfile(path), "parses": False, "error": "",
                               "api_insecure": False, "dashboard": False, "entry_points": {}, "problems": []}
    if not facts["exists"]:
        facts["error"] = "%s does not exist" % path
        return facts
    try:
        doc = load_file(path)
    except TraefikConfigError as exc:
        facts["error"] = "; ".join(exc.problems)
        return facts
    api = _section(doc, "api")
    facts.update(parses=True, api_insecure=bool(api.get("insecure")), dashboard=bool(api and api.get("dashboard", True)),
                 problems=check_static(doc))
    for name, entry in _section(doc, "entryPoints").items():
        address = entry.get("address") if isinstance(entry, dict) else None
        port = str(address or "").rsplit(":", 1)[-1].split("/")[0]
        facts["entry_points"][name] = int(port) if port.isdigit() else None
    return facts


def dashboard_exposure(static: t.Mapping[str, t.Any], files: t.Sequence[DynamicFile],
                       found: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """How the Traefik API/dashboard is reachable: insecure mode, and routers to api@internal without an
    authentication middleware or TLS."""
    middlewares: dict[str, t.Any] = {}
    for dynamic in files:
        for name, body in dynamic.middlewares.items():
            middlewares.setdefault(name, body)
    api_routers, unprotected = [], []
    for name, router in sorted(found.items()):
        if str(router.get("service") or "").split("@", maxsplit=1)[0] not in ("api", "dashboard"):
            continue
        api_routers.append(name)
        auth = [m for m in router["middlewares"]
                if isinstance(middlewares.get(str(m).split("@", maxsplit=1)[0]), dict)
                and set(middlewares[str(m).split("@", maxsplit=1)[0]]) & set(AUTH_MIDDLEWARES)]
        if not auth or not router["tls"]:
            unprotected.append({"router": name, "file": router["file"], "auth": bool(auth), "tls": router["tls"]})
    return {"insecure": bool(static.get("api_insecure")), "routers": api_routers, "unprotected": unprotected}


def _host_path(path: str, config_dir: str, container_config_dir: str) -> str:
    prefix = container_config_dir.rstrip("/") + "/"
    return os.path.join(config_dir, path[len(prefix):]) if path.startswith(prefix) else path


def certificate_files(files: t.Sequence[DynamicFile], config_dir: str, container_config_dir: str,
                      now: datetime.datetime | None = None) -> list[dict[str, t.Any]]:
    """Every certificate file the dynamic configuration references (tls.certificates), with days left."""
    out = []
    for dynamic in files:
        for entry in dynamic.certificates:
            cert_file = str(entry.get("certFile") or "")
            facts: dict[str, t.Any] = {"cert_file": cert_file, "config": dynamic.path,
                                       "host_path": _host_path(cert_file, config_dir, container_config_dir),
                                       "domains": [], "not_after": None, "days_left": None, "error": ""}
            try:
                with open(facts["host_path"], "rb") as handle:
                    info = certs.describe(certs.load_chain(handle.read())[0], now)
                facts.update(domains=info["domains"], not_after=info["not_after"], days_left=info["days_left"])
            except OSError as exc:
                facts["error"] = "cannot read %s: %s" % (facts["host_path"], exc.strerror or exc)
            except certs.CertError as exc:
                facts["error"] = "%s: %s" % (facts["host_path"], exc)
            out.append(facts)
    return out


def covers(domains: t.Sequence[str], name: str) -> bool:
    """Whether a certificate for ``domains`` is valid for ``name`` (one-label wildcards)."""
    name = name.lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().rstrip(".")
        if domain == name or (domain.startswith("*.") and name.split(".", 1)[-1] == domain[2:] and "." in name):
            return True
    return False


def probe(host: str, port: int, server_name: str, timeout: float = 5.0,
          now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """The certificate the endpoint serves for ``server_name`` (TLS handshake with SNI, not verified)."""
    facts: dict[str, t.Any] = {"server_name": server_name, "answered": False, "domains": [], "not_after": None,
                               "days_left": None, "covers": False, "error": ""}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        facts["error"] = "%s:%d (SNI %s): %s" % (host, port, server_name, exc)
        return facts
    facts["answered"] = True
    try:
        info = certs.describe(certs.load_chain(ssl.DER_cert_to_PEM_cert(der).encode("ascii"))[0], now)
    except (certs.CertError, ValueError, TypeError) as exc:
        facts["error"] = "the certificate served for %s does not parse: %s" % (server_name, exc)
        return facts
    facts.update(domains=info["domains"], not_after=info["not_after"], days_left=info["days_left"],
                 covers=covers(info["domains"], server_name))
    return facts


def collect(config_dir: str, container_config_dir: str = "/etc/traefik", endpoint_host: str = "127.0.0.1",
            endpoint_port: int | None = 443, server_names: t.Sequence[str] = (), timeout: float = 5.0,
            certificates: bool = True, now: datetime.datetime | None = None) -> dict[str, t.Any]:
    """Everything the runbooks need to know about one edge host's Traefik (see the module's RETURN);
    ``certificates`` false skips the certificate files and the per-name probes (no ``cryptography`` needed)."""
    static = read_static(os.path.join(config_dir, "traefik.yml"))
    files = read_dynamic(os.path.join(config_dir, "dynamic"))
    found, duplicates = routers(files)
    cert_files = certificate_files(files, config_dir, container_config_dir, now) if certificates else []
    names = sorted({h for r in found.values() if r["tls"] for h in r["hosts"]} | set(server_names))
    served = [probe(endpoint_host, endpoint_port, name, timeout, now)
              for name in names] if endpoint_port and certificates else []
    answers, error = _connects(endpoint_host, endpoint_port, timeout) if endpoint_port else (False, "not checked")
    return {
        "config_dir": config_dir,
        "static": static,
        "files": [f.as_dict() for f in files],
        "unparsable": [f.path for f in files if not f.parses],
        "routers": found,
        "duplicate_routers": duplicates,
        "dashboard": dashboard_exposure(static, files, found),
        "certificate_files": cert_files,
        "endpoint": {"host": endpoint_host, "port": endpoint_port, "checked": bool(endpoint_port),
                     "answered": answers, "error": error, "served": served},
    }


def _connects(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as exc:
        return False, "%s:%d: %s" % (host, port, exc.strerror or exc)

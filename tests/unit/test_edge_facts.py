# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What traefik_facts reads on an edge host (module_utils/_edge.py): a Traefik tree in a temporary directory, and a
real TLS server on 127.0.0.1 choosing its certificate by SNI, like Traefik does."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _edge
from tests.certs_factory import CertFactory

NOW = datetime.datetime.now(datetime.timezone.utc)
FACTORY = CertFactory(now=NOW)
STATIC = """entryPoints:
  web: {address: ':80'}
  websecure: {address: ':443'}
  internal: {address: ':8082'}
api: {dashboard: true, insecure: %s}
ping: {entryPoint: internal}
providers:
  file: {directory: /etc/traefik/dynamic, watch: true}
  docker: {exposedByDefault: false}
"""


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "dynamic").mkdir()
    (tmp_path / "certs").mkdir()
    (tmp_path / "traefik.yml").write_text(STATIC % "false")
    (tmp_path / "dynamic" / "routes.yml").write_text(
        "http:\n  routers:\n    site:\n      rule: Host(`site.test`) || Host(`www.site.test`)\n      service: site\n"
        "      tls: {}\n    plain:\n      rule: Host(`plain.test`)\n      service: site\n")
    (tmp_path / "dynamic" / "dashboard.yml").write_text(
        "http:\n  routers:\n    traefik-dashboard:\n      rule: Host(`traefik.test`)\n      service: api@internal\n"
        "      middlewares: [auth]\n      tls: {}\n  middlewares:\n    auth:\n      basicAuth: {usersFile: /x}\n")
    FACTORY.valid("site.test").write(str(tmp_path / "certs"), "site")
    FACTORY.expiring("old.test", days=2.5).write(str(tmp_path / "certs"), "old")
    (tmp_path / "dynamic" / "certificates.yml").write_text(
        'tls:\n  certificates:\n    - certFile: "/etc/traefik/certs/site.crt"\n      keyFile: "/etc/traefik/certs/site.key"\n'
        '    - certFile: "/etc/traefik/certs/old.crt"\n      keyFile: "/etc/traefik/certs/old.key"\n'
        '    - certFile: "/etc/traefik/certs/gone.crt"\n      keyFile: "/etc/traefik/certs/gone.key"\n')
    return tmp_path


def test_files_routers_and_certificate_files(tree):
    (tree / "dynamic" / "hand.yml").write_text("http:\n  routers:\n    site:\n      rule: Host(`x.test`)\n")
    (tree / "dynamic" / "nested").mkdir()
    (tree / "dynamic" / "nested" / "broken.yaml").write_text("http: [\n")
    facts = _edge.collect(str(tree), endpoint_port=None, now=NOW)
    assert [f["name"] for f in facts["files"]] == ["certificates.yml", "dashboard.yml", "hand.yml", "broken.yaml",
                                                   "routes.yml"]
    assert facts["unparsable"] == [str(tree / "dynamic" / "nested" / "broken.yaml")]
    assert "does not parse as YAML" in facts["files"][3]["error"]
    assert facts["routers"]["site"]["file"] == str(tree / "dynamic" / "hand.yml")  # first file wins, as in Traefik
    assert facts["duplicate_routers"] == [{"router": "site", "files": [str(tree / "dynamic" / "hand.yml"),
                                                                       str(tree / "dynamic" / "routes.yml")]}]
    assert facts["routers"]["plain"]["hosts"] == ["plain.test"] and facts["routers"]["plain"]["tls"] is False
    certs = {c["cert_file"].rsplit("/", 1)[-1]: c for c in facts["certificate_files"]}
    assert certs["site.crt"]["domains"][0] == "site.test" and certs["site.crt"]["days_left"] >= 80
    assert certs["old.crt"]["days_left"] == 2 and certs["old.crt"]["host_path"] == str(tree / "certs" / "old.crt")
    assert "cannot read" in certs["gone.crt"]["error"]
    assert facts["endpoint"]["checked"] is False and facts["endpoint"]["served"] == []


def test_static_and_dashboard_exposure(tree):
    facts = _edge.collect(str(tree), endpoint_port=None, now=NOW)
    assert facts["static"]["parses"] and facts["static"]["entry_points"] == {"web": 80, "websecure": 443, "internal": 8082}
    assert facts["dashboard"] == {"insecure": False, "routers": ["traefik-dashboard"], "unprotected": []}
    (tree / "traefik.yml").write_text(STATIC % "true")
    (tree / "dynamic" / "open.yml").write_text(
        "http:\n  routers:\n    open-api:\n      rule: Host(`api.test`)\n      service: api@internal\n")
    facts = _edge.collect(str(tree), endpoint_port=None, now=NOW)
    assert facts["static"]["api_insecure"] is True
    assert any(p.startswith("api.insecure") for p in facts["static"]["problems"])
    assert facts["dashboard"]["unprotected"] == [{"router": "open-api", "file": str(tree / "dynamic" / "open.yml"),
                                                  "auth": False, "tls": False}]
    (tree / "traefik.yml").write_text("api: [\n")
    static = _edge.collect(str(tree), endpoint_port=None, now=NOW)["static"]
    assert static["parses"] is False and "does not parse" in static["error"]


def test_without_certificates_nothing_needs_cryptography(tree):
    facts = _edge.collect(str(tree), endpoint_port=443, certificates=False, now=NOW)
    assert facts["certificate_files"] == [] and facts["endpoint"]["served"] == []


@pytest.fixture
def tls_server(tree):
    """A TLS server on 127.0.0.1 that serves site.test's certificate for site.test and old.test's otherwise."""
    default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    default.load_cert_chain(str(tree / "certs" / "old.crt"), str(tree / "certs" / "old.key"))
    site = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    site.load_cert_chain(str(tree / "certs" / "site.crt"), str(tree / "certs" / "site.key"))

    def choose(sock, name, _context):
        if name == "site.test":
            sock.context = site

    default.sni_callback = choose
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                return
            try:
                with default.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_live_certificates_per_server_name(tree, tls_server):
    facts = _edge.collect(str(tree), endpoint_port=tls_server, server_names=["old.test", "nobody.test"], now=NOW)
    served = {s["server_name"]: s for s in facts["endpoint"]["served"]}
    assert sorted(served) == ["nobody.test", "old.test", "site.test", "traefik.test", "www.site.test"]
    assert served["site.test"]["covers"] is True and served["site.test"]["days_left"] >= 80
    assert served["old.test"]["covers"] is True and served["old.test"]["days_left"] == 2
    assert served["nobody.test"]["covers"] is False and served["nobody.test"]["domains"][0] == "old.test"
    assert facts["endpoint"]["answered"] is True


def test_nothing_listening(tree):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    facts = _edge.collect(str(tree), endpoint_port=port, timeout=2, now=NOW)
    assert facts["endpoint"]["answered"] is False and "refused" in facts["endpoint"]["error"].lower()
    assert all(not s["answered"] for s in facts["endpoint"]["served"])


@pytest.mark.parametrize("domains, name, expected", [
    (["a.test"], "a.test", True), (["A.test."], "a.TEST", True), (["*.a.test"], "x.a.test", True),
    (["*.a.test"], "a.test", False), (["*.a.test"], "y.x.a.test", False), (["b.test"], "a.test", False)])
def test_covers(domains, name, expected):
    assert _edge.covers(domains, name) is expected

# -*- coding: utf-8 -*-
"""traefik_cert_sync through ansible-playbook against the Kubernetes double (real `kubernetes` client).

End to end: install, no-op rerun, check mode, diff, renewal, refusals and an API fault as Ansible
reports them, and two concurrent ansible-playbook runs. The full fault matrix runs in-process in
test_cert_sync_faults.py. Fault cases start from a good installed state and end with a clear
message and that state byte-identical (certificate files, modes, certificates.yml).
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.certs_factory import CertFactory, EdgeTree
from tests.kube.playbook import run_playbook
from tests.metrics import value as metric

pytestmark = pytest.mark.slow
MODULE = "squaremcp.infra.traefik_cert_sync"


@pytest.fixture(scope="module")
def factory():
    return CertFactory()


class Edge(EdgeTree):
    """The shared Traefik tree, synced through ansible-playbook."""

    runs = 0

    def sync(self, check=False, diff=False, env=None, workdir=None, **extra):
        """Run the module once; returns (task result, playbook result)."""
        self.runs += 1
        workdir = self.root / (workdir or "run%d" % self.runs)
        workdir.mkdir()
        played = run_playbook(self.kube, workdir, [{"name": "sync", MODULE: self.options(**extra)}],
                              check=check, diff=diff, env=env)
        return played.task("sync"), played


@pytest.fixture
def edge(kube, tmp_path):
    return Edge(tmp_path, kube)


def secret(pair, name, namespace="edge", labels=None):
    return pair.secret(name, namespace, labels)


def by_name(result):
    return {cert["name"]: cert for cert in result["certificates"]}


def test_first_sync_installs_second_writes_nothing(kube, edge, factory):
    kube.create(secret(factory.valid("shop.example.com"), "shop-tls", labels={"edge": "yes"}))
    kube.create(secret(factory.valid("api.example.com", kind="rsa"), "api-tls", labels={"edge": "yes"}))
    kube.create(secret(factory.valid("other.example.com"), "unlabelled-tls"))
    kube.create(secret(factory.valid("apps.example.com"), "elsewhere-tls", namespace="apps", labels={"edge": "yes"}))
    kube.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "db", "namespace": "edge",
                 "labels": {"edge": "yes"}}, "data": {"password": "c2VjcmV0"}})
    first, played = edge.sync(diff=True, label_selector="edge=yes")
    assert played.rc == 0 and first["changed"], first
    assert {c["name"]: c["action"] for c in first["certificates"]} == {"api-tls": "added", "shop-tls": "added"}
    assert edge.referenced() == sorted(c["cert_file"] for c in first["certificates"])
    assert all(c["namespace"] == "edge" and c["cert_file"].startswith("edge_") for c in first["certificates"])
    key_modes = {(edge.certs / c["key_file"]).stat().st_mode & 0o777 for c in first["certificates"]}
    assert key_modes == {0o600}
    assert "after" in first["diff"] and by_name(first)["shop-tls"]["fingerprint"] in first["diff"]["after"]
    # the list asked the server for TLS secrets only (the Opaque one never left the API)
    lists = kube.requests_matching("GET", r"^/api/v1/namespaces/edge/secrets")
    assert lists and all(r.query.get("fieldSelector") == "type=kubernetes.io/tls" for r in lists)
    installed = edge.state()
    stamps = mtimes(edge)
    second, played = edge.sync(label_selector="edge=yes")
    assert played.rc == 0 and not second["changed"] and second["written"] == [] and second["removed"] == []
    assert {c["action"] for c in second["certificates"]} == {"unchanged"}
    assert edge.state() == installed and mtimes(edge) == stamps
    everywhere, _played = edge.sync(namespaces=[], all_namespaces=True, label_selector="edge=yes", check=True)
    assert by_name(everywhere)["elsewhere-tls"]["action"] == "added" and everywhere["changed"]
    assert edge.state() == installed  # check mode


def test_output_never_contains_key_material(kube, edge, factory):
    pairs = [factory.valid("shop.example.com"), factory.wrong_key(), factory.expired()]
    for index, pair in enumerate(pairs):
        kube.create(secret(pair, "tls-%d" % index))
    result, played = edge.sync(diff=True, check=True, on_expiring="warn")
    assert played.rc == 2 and "refused" in result["msg"]
    _result, played_for_real = edge.sync(diff=True, on_expiring="warn")
    for pair in pairs:
        body = b"".join(pair.key_pem.splitlines()[1:-1]).decode()
        for text in (played.stdout, played.stderr, played_for_real.stdout, played_for_real.stderr):
            assert body[:24] not in text and body[-24:] not in text


def test_renewed_secret_replaces_files_and_config_and_prunes_old_pair(kube, edge, factory):
    kube.create(secret(factory.valid("shop.example.com"), "shop-tls"))
    old = by_name(edge.sync()[0])["shop-tls"]
    kube.apply(secret(factory.valid("shop.example.com"), "shop-tls"))
    result, played = edge.sync(diff=True)
    new = by_name(result)["shop-tls"]
    assert played.rc == 0 and new["action"] == "updated" and new["fingerprint"] != old["fingerprint"]
    assert edge.referenced() == [new["cert_file"]]
    assert sorted(p.name for p in edge.certs.iterdir() if not p.name.startswith(".")) == sorted([new["cert_file"], new["key_file"]])
    assert sorted(os.path.basename(p) for p in result["removed"]) == sorted([old["cert_file"], old["key_file"]])
    assert old["fingerprint"] in result["diff"]["before"] and new["fingerprint"] in result["diff"]["after"]


# ------------------------------------------------------------------------------------------
# Bad input and faults: clear message, previous good state byte-identical


@pytest.fixture
def good(kube, edge, factory):
    """Five TLS secrets installed (three pages of two with page_size=2), state recorded."""
    for index in range(5):
        kube.create(secret(factory.valid("site%d.example.com" % index), "site%d-tls" % index))
    result, played = edge.sync(page_size=2)
    assert played.rc == 0 and len(result["certificates"]) == 5
    edge.good = edge.state()
    return edge


def assert_failed_untouched(edge, result, played, *fragments):
    assert played.rc == 2 and result.get("failed"), result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    assert edge.state() == edge.good


def test_api_500_on_second_page(kube, good):
    fault = kube.fail("GET", r"/namespaces/edge/secrets", status=500, page=2, message="etcdserver: leader changed")
    result, played = good.sync(page_size=2)
    assert fault.hits == 1
    assert_failed_untouched(good, result, played, "listing TLS secrets in namespace edge failed: HTTP 500",
                            "etcdserver: leader changed", "the API server failed", "nothing was changed")
    assert metric(good.metrics.read_text(), "squaremcp_certificate_sync_failed") == 1


@pytest.mark.parametrize("kind, fragment", [
    ("wrong_key", "the private key does not match the certificate"),
    ("expired", "expired on"),
])
def test_bad_renewal_keeps_previous_files(kube, good, factory, kind, fragment):
    kube.apply(secret(getattr(factory, kind)(), "site1-tls"))
    result, played = good.sync(page_size=2)
    assert_failed_untouched(good, result, played, "1 certificate(s) refused: edge/site1-tls: " + fragment,
                            "(the previous files stay in place)")
    assert by_name(result)["site1-tls"]["installed"]["days_left"] >= 89
    assert [c["action"] for c in result["certificates"]].count("unchanged") == 4


def test_namespace_typo_changes_nothing_and_alerts(kube, good):
    """The source returns nothing (a typo): the task fails, Traefik's tree is byte-identical, the metrics fail."""
    result, played = good.sync(namespaces=["egde"])
    assert_failed_untouched(good, result, played, "the source (namespaces egde) returned no certificate while 5 certificate(s)",
                            "nothing was changed", "allow_empty=true")
    metrics = good.metrics.read_text()
    assert metric(metrics, "squaremcp_certificate_sync_failed") == 1 and metric(metrics, "squaremcp_certificate_sync_certificates") == 5
    result, played = good.sync(namespaces=["egde"], allow_empty=True)
    assert played.rc == 0 and result["changed"] and good.referenced() == [] and good.files() == []


def test_concurrent_runs_serialise(kube, good, factory):
    """A second ansible-playbook run started while the first is inside the lock waits for it."""
    for index in (0, 1):
        kube.apply(secret(factory.valid("site%d.example.com" % index), "site%d-tls" % index))
    kube.clear_requests()
    kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", hang=4, times=1)  # the first run stalls holding the lock
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", good.sync(workdir="first")))
    second = threading.Thread(target=lambda: results.setdefault("second", good.sync(workdir="second")))
    first.start()
    deadline = time.monotonic() + 60
    while not kube.requests_matching("GET", r"^/api/v1/namespaces/edge/secrets") and time.monotonic() < deadline:
        time.sleep(0.05)
    second.start()  # without the lock it would list and plan against the old state within the stall
    first.join()
    second.join()
    (first_result, first_play), (second_result, second_play) = results["first"], results["second"]
    assert first_play.rc == 0 and second_play.rc == 0
    assert first_result["changed"] and not second_result["changed"]
    assert sorted(c["action"] for c in first_result["certificates"]).count("updated") == 2
    assert {c["action"] for c in second_result["certificates"]} == {"unchanged"}
    assert len(good.files()) == 10 and len(good.referenced()) == 5


def mtimes(edge):
    return {p.name: p.stat().st_mtime_ns for p in list(edge.certs.iterdir()) + [edge.config] if not p.name.endswith(".lock")}

# -*- coding: utf-8 -*-
"""Bad input and faults: the sync (module_utils code, real AnsibleModule, real `kubernetes` client)
against the Kubernetes double and real files. In-process so the whole matrix runs in seconds; the
same paths through ansible-playbook are covered by test_cert_sync_kube.py.

Every case starts from five installed certificates and must end failed, with a message naming
the problem and what to do, with everything Traefik reads byte-identical (lock file aside), and
with metrics saying ``failed 1`` while still carrying the expiry of what Traefik serves.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import certs
from tests.certs_factory import CertFactory, EdgeTree
from tests.metrics import value as metric

FACTORY = CertFactory()
SITES = ["site%d-tls" % index for index in range(5)]


def module():
    with patch_module_args({}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


class Edge(EdgeTree):
    def sync(self, **extra):
        params = self.options(**dict({"page_size": 2}, **extra))
        return certs.run(module(), params, certs.source_reader(params))


@pytest.fixture
def edge(kube, tmp_path):
    for index, name in enumerate(SITES):
        kube.create(FACTORY.valid("site%d.example.com" % index).secret(name, "edge"))
    edge = Edge(tmp_path, kube)
    outcome = edge.sync()
    assert not outcome["failed"] and [c["action"] for c in outcome["certificates"]] == ["added"] * 5
    assert len(kube.requests_matching("GET", r"^/api/v1/namespaces/edge/secrets")) == 3  # pages of 2
    edge.good = edge.state()
    return edge


def renew(kube, name, kind):
    kube.apply(getattr(FACTORY, kind)().secret(name, "edge"))


def chattr(path, flag):
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False).returncode == 0


# Each case: (id, prepare(kube, edge) -> extra options, expected message fragments)
def _fault(**kwargs):
    return lambda kube, edge: kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", **kwargs) and {}


def _stop(kube, edge):
    kube.stop()
    return {"request_timeout": 2}


def _renewal(kind):
    return lambda kube, edge: renew(kube, "site1-tls", kind) or {}


def _without_key(kube, edge):
    secret = FACTORY.valid().secret("site2-tls", "edge")
    secret["data"]["tls.key"] = ""
    kube.apply(secret)


def _swapped(kube, edge):
    secret = FACTORY.valid().secret("site2-tls", "edge")
    secret["data"]["tls.crt"], secret["data"]["tls.key"] = secret["data"]["tls.key"], secret["data"]["tls.crt"]
    kube.apply(secret)


def _corrupt_config(kube, edge):
    edge.config.write_text("tls: [\n")
    edge.good = edge.state()
    return {}


def _dest_is_file(kube, edge):
    (edge.root / "not-a-dir").write_text("x")
    return {"dest_dir": str(edge.root / "not-a-dir" / "certs")}


CASES = [
    ("api-500-on-page-2", _fault(status=500, page=2, message="etcdserver: leader changed"),
     ["listing TLS secrets in namespace edge failed: HTTP 500 etcdserver: leader changed", "the API server failed",
      "nothing was changed"]),
    ("api-timeout-on-page-2", lambda kube, edge: kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", page=2, hang=3,
                                                           times=None) and {"request_timeout": 1},
     ["cannot reach the Kubernetes API", "timed out", "nothing was changed"]),
    ("connection-dropped-on-page-3", _fault(page=3, drop=True, times=None),
     ["cannot reach the Kubernetes API", "nothing was changed"]),
    ("forbidden", lambda kube, edge: kube.deny(verb="list", resource="secrets", namespace="edge") and {},
     ["HTTP 403", "RBAC denied it: grant the permission"]),
    ("api-server-down", _stop, ["cannot reach the Kubernetes API", "check the kubeconfig server address"]),
    ("missing-kubeconfig", lambda kube, edge: {"kubeconfig": str(edge.root / "nope")},
     ["/nope does not exist: pass the path of a readable kubeconfig", "nothing was changed"]),
    ("unknown-context", lambda kube, edge: {"context": "prod"}, ["cannot load the Kubernetes configuration", "(context prod)"]),
    ("missing-named-secret", lambda kube, edge: {"names": SITES + ["edge/ghost-tls"]},
     ["1 certificate(s) refused: edge/ghost-tls: not found in namespace edge: create it or remove it from names"]),
    ("wrong-key", _renewal("wrong_key"), ["edge/site1-tls: the private key does not match the certificate",
                                          "(the previous files stay in place)"]),
    ("expired", _renewal("expired"), ["edge/site1-tls: expired on", "renew it", "(the previous files stay in place)"]),
    ("not-yet-valid", _renewal("not_yet_valid"), ["edge/site1-tls: not valid before"]),
    ("wrong-chain-order", _renewal("wrong_order"), ["edge/site1-tls: the chain is not leaf-first", "number 2 of 2"]),
    ("foreign-intermediate", _renewal("foreign_chain"), ["edge/site1-tls: the chain is not in order"]),
    ("garbage-pem", _renewal("garbage"), ["edge/site1-tls: tls.crt holds a CERTIFICATE block that is not valid base64"]),
    ("secret-without-key", _without_key, ["edge/site2-tls: the secret has no tls.key"]),
    ("certificate-and-key-swapped", _swapped, ["edge/site2-tls: tls.crt block 1 is a PRIVATE KEY, not a CERTIFICATE"]),
    ("dest-dir-under-a-file", _dest_is_file, ["cannot create dest_dir", "create it or fix the path"]),
    ("corrupt-certificates-yml", _corrupt_config, ["is not valid YAML", "written only by this module"]),
    ("namespace-typo", lambda kube, edge: {"namespaces": ["egde"]},
     ["the source (namespaces egde) returned no certificate while 5 certificate(s) are installed (edge/site0-tls, ",
      "refusing to remove them all; nothing was changed", "allow_empty=true"]),
    ("label-selector-matches-nothing", lambda kube, edge: {"label_selector": "squaremcp.com/edge=true"},
     ["the source (namespaces edge, label_selector squaremcp.com/edge=true) returned no certificate"]),
    ("most-secrets-deleted", lambda kube, edge: [kube.delete("v1", "Secret", name, "edge") for name in SITES[1:4]] and {},
     ["3 of the 5 installed certificates are no longer in the source", "edge/site1-tls, edge/site2-tls, edge/site3-tls",
      "max_prune_ratio 0.5"]),
    ("no-selection", lambda kube, edge: {"namespaces": []}, ["no selection: set namespaces", "all_namespaces=true"]),
    ("bad-option", lambda kube, edge: {"max_prune_ratio": 2}, ["max_prune_ratio must be between 0 and 1"]),
]


@pytest.mark.parametrize("prepare, fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_fault_fails_clearly_and_keeps_previous_state(kube, edge, prepare, fragments):
    success = certs.previous_last_success(edge.metrics.read_text())
    extra = prepare(kube, edge) or {}
    try:
        outcome = edge.sync(**extra)
    except certs.SyncError as exc:  # raised before anything could be decided (state unreadable)
        outcome = {"failed": True, "msg": str(exc)}
    assert outcome["failed"]
    for fragment in fragments:
        assert fragment in outcome["msg"], outcome["msg"]
    assert edge.state() == edge.good
    metrics = edge.metrics.read_text()  # monitoring sees the failure and still knows what Traefik serves
    assert metric(metrics, "squaremcp_certificate_sync_failed") == 1 and metric(metrics, "squaremcp_certificate_sync_certificates") == 5
    assert metrics.count("squaremcp_certificate_expiry_timestamp_seconds{") == 10
    assert certs.previous_last_success(metrics) == success


@pytest.mark.parametrize("directory", ["certs", "dynamic"])
def test_unwritable_directory(kube, edge, directory):
    renew(kube, "site3-tls", "valid")  # a renewal that needs new files and a new config
    target = edge.traefik / directory
    if not chattr(target, "+i"):
        pytest.skip("chattr +i is not possible here (needs CAP_LINUX_IMMUTABLE and ext4/xfs)")
    try:
        outcome = edge.sync()
    finally:
        chattr(target, "-i")
    assert outcome["failed"] and "%s is not writable" % target in outcome["msg"] and "fix its permissions" in outcome["msg"]
    assert edge.state() == edge.good
    assert metric(edge.metrics.read_text(), "squaremcp_certificate_sync_failed") == 1


def test_lock_held_by_another_process(edge):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())\n"
        "print('locked', flush=True); time.sleep(60)\n"), str(edge.certs / certs.LOCK_NAME)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(certs.SyncError) as caught:
            edge.sync(lock_timeout=1)
    finally:
        holder.kill()
        holder.wait()
    assert "another run holds the lock" in str(caught.value) and "(pid %d)" % holder.pid in str(caught.value)
    assert edge.state() == edge.good
    assert metric(edge.metrics.read_text(), "squaremcp_certificate_sync_failed") == 1


def test_failed_run_keeps_last_success_and_reports_installed_expiry(kube, edge):
    success = certs.previous_last_success(edge.metrics.read_text())
    kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", status=503, times=None)
    outcome = edge.sync()
    metrics = edge.metrics.read_text()
    assert outcome["failed"] and metric(metrics, "squaremcp_certificate_sync_failed") == 1
    assert certs.previous_last_success(metrics) == success
    assert metrics.count("squaremcp_certificate_expiry_timestamp_seconds{") == 10  # 5 certificates x 2 domains
    assert metric(metrics, "squaremcp_certificate_sync_certificates") == 5


def test_recovery_after_fault(kube, edge):
    """A fault that passes leaves nothing behind: the next run renews and prunes normally."""
    renew(kube, "site4-tls", "valid")
    kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", status=500, page=3)
    assert edge.sync()["failed"] and edge.state() == edge.good
    outcome = edge.sync()
    assert not outcome["failed"] and [c["action"] for c in outcome["certificates"]].count("updated") == 1
    assert len(outcome["removed"]) == 2


def test_sealed_secrets_key_and_ca_secrets_are_never_installed(kube, edge):
    """Cluster-wide read (explicit all_namespaces): the sealing key and CA secrets are skipped with a reason;
    a sealing key an older version installed is removed from Traefik's directory."""
    kube.create(FACTORY.sealing_key_secret("sealed-secrets-keyx7k2p", "kube-system"))
    kube.create(FACTORY.ca().secret("cert-manager-webhook-ca", "cert-manager"))
    kube.create(FACTORY.ca().secret("edge-issuer-ca", "edge"))
    # what the code before this fix did with a default (all namespaces) run: install the sealing key
    leaked = FACTORY.sealing_key().secret("sealed-secrets-keyx7k2p", "edge")
    kube.create(leaked)
    before = {c["name"]: c["action"] for c in edge.sync()["certificates"]}
    assert before["sealed-secrets-keyx7k2p"] == "added" and before["edge-issuer-ca"] == "skipped" and len(edge.files()) == 12
    kube.apply(dict(leaked, metadata=dict(leaked["metadata"], labels={certs.SEALED_SECRETS_KEY_LABEL: "active"})))
    outcome = edge.sync(namespaces=[], all_namespaces=True)
    assert not outcome["failed"], outcome["msg"]
    actions = {"%s/%s" % (c["namespace"], c["name"]): (c["action"], c["reason"]) for c in outcome["certificates"]}
    assert actions["kube-system/sealed-secrets-keyx7k2p"][0] == "skipped"
    assert "private sealing key (label sealedsecrets.bitnami.com/sealed-secrets-key)" in actions["kube-system/sealed-secrets-keyx7k2p"][1]
    assert actions["edge/sealed-secrets-keyx7k2p"][0] == "skipped"
    assert actions["edge/sealed-secrets-keyx7k2p"][1].endswith("(its previously installed files are removed)")
    for ident in ("cert-manager/cert-manager-webhook-ca", "edge/edge-issuer-ca"):
        assert actions[ident][0] == "skipped" and "a CA certificate (CN=SquareMCP Test Intermediate" in actions[ident][1]
    assert sorted({name.rsplit("_", 1)[0] for name in edge.files()}) == ["edge_%s" % site for site in SITES]
    assert outcome["expiring"] == [] and outcome["refused"] == [] and "4 skipped (never installed)" in outcome["msg"]
    assert "sealed" not in edge.config.read_text() and "issuer-ca" not in edge.config.read_text()

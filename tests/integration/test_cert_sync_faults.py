# -*- coding: utf-8 -*-
"""Bad input and faults: the sync (module_utils code, real AnsibleModule, real `kubernetes` client)
against the Kubernetes double and real files. In-process so the whole matrix runs in seconds; the
same paths through ansible-playbook are covered by test_cert_sync_kube.py.

Every case starts from five installed certificates and must end failed, with a message naming
the problem and what to do, and with everything Traefik reads byte-identical (lock file aside).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import certs
from tests.certs_factory import CertFactory, snapshot

FACTORY = CertFactory()
SITES = ["site%d-tls" % index for index in range(5)]


def module():
    with patch_module_args({}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


class Edge(object):
    def __init__(self, kube, root):
        self.kube = kube
        self.root = root
        self.traefik = root / "traefik"
        self.certs = self.traefik / "certs"
        self.config = self.traefik / "dynamic" / "certificates.yml"
        self.metrics = root / "textfile" / "squaremcp_certificates.prom"
        self.config.parent.mkdir(parents=True)
        self.metrics.parent.mkdir()

    def params(self, **extra):
        params = {"kubeconfig": self.kube.kubeconfig_path, "namespaces": ["edge"], "dest_dir": str(self.certs),
                  "container_cert_dir": "/etc/traefik/certs", "metrics_path": str(self.metrics), "page_size": 2,
                  "request_timeout": 5}
        params.update(extra)
        return params

    def sync(self, **extra):
        params = self.params(**extra)
        return certs.run(module(), params, certs.source_reader(params))

    def state(self):
        return {path: value for path, value in snapshot(str(self.traefik)).items() if not path.endswith(".lock")}


@pytest.fixture
def edge(kube, tmp_path):
    for index, name in enumerate(SITES):
        kube.create(FACTORY.valid("site%d.example.com" % index).secret(name, "edge"))
    edge = Edge(kube, tmp_path)
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
]


@pytest.mark.parametrize("prepare, fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_fault_fails_clearly_and_keeps_previous_state(kube, edge, prepare, fragments):
    extra = prepare(kube, edge) or {}
    try:
        outcome = edge.sync(**extra)
    except certs.SyncError as exc:  # raised before anything could be decided (state unreadable)
        outcome = {"failed": True, "msg": str(exc)}
    assert outcome["failed"]
    for fragment in fragments:
        assert fragment in outcome["msg"], outcome["msg"]
    assert edge.state() == edge.good


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
    assert "squaremcp_certificate_sync_failed 1" in edge.metrics.read_text()


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


def test_failed_run_keeps_last_success_and_reports_installed_expiry(kube, edge):
    success = certs.previous_last_success(edge.metrics.read_text())
    kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", status=503, times=None)
    outcome = edge.sync()
    metrics = edge.metrics.read_text()
    assert outcome["failed"] and "squaremcp_certificate_sync_failed 1" in metrics
    assert certs.previous_last_success(metrics) == success
    assert metrics.count("squaremcp_certificate_expiry_timestamp_seconds{") == 10  # 5 certificates x 2 domains
    assert "squaremcp_certificate_sync_certificates 5" in metrics


def test_recovery_after_fault(kube, edge):
    """A fault that passes leaves nothing behind: the next run renews and prunes normally."""
    renew(kube, "site4-tls", "valid")
    kube.fail("GET", r"^/api/v1/namespaces/edge/secrets", status=500, page=3)
    assert edge.sync()["failed"] and edge.state() == edge.good
    outcome = edge.sync()
    assert not outcome["failed"] and [c["action"] for c in outcome["certificates"]].count("updated") == 1
    assert len(outcome["removed"]) == 2

# -*- coding: utf-8 -*-
"""squaremcp.infra.sealed_secret against the Kubernetes REST double, through ansible-playbook.

The certificate comes from the controller through the API server's service proxy (as kubeseal gets
it), the SealedSecret is created / replaced in the cluster, a second run changes nothing, check mode
writes nothing, API faults fail cleanly. The canary value must appear in no output."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.fixtures.sealed_secrets import controller
from tests.kube.playbook import run_playbook

pytestmark = pytest.mark.slow

CANARY = "canary-Cluster-s3cret-4b7a"
DIGEST_KEY = "cluster-digest-key-0123456789"
CERT_PATH = r"/api/v1/namespaces/kube-system/services/http%3Asealed-secrets-controller%3Ahttp/proxy/v1%2Fcert\.pem"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def key_pair():
    return controller.key_pair(2048)


@pytest.fixture
def cluster(kube, key_pair):
    """The double with a Sealed Secrets controller answering v1/cert.pem like the real one."""
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hermes-mcp"}})
    kube.service_proxy("kube-system", "sealed-secrets-controller", "v1/cert.pem", body=key_pair[1],
                       content_type="application/x-pem-file")
    return kube


def seal(register, check_mode=None, **args):
    params = dict(name="hermes-secrets", namespace="hermes-mcp", digest_key=DIGEST_KEY, apply=True,
                  string_data={"SMTP_PASSWORD": CANARY, "OAUTH_CLIENT_SECRET": "second-" + CANARY})
    params.update(args)
    task = {"name": register, "squaremcp.infra.sealed_secret": params, "ignore_errors": True}
    if check_mode is not None:
        task["check_mode"] = check_mode
    return task


def play(kube, tmp_path, tasks, **kwargs):
    result = run_playbook(kube, tmp_path, tasks, diff=True, module_defaults={
        "squaremcp.infra.sealed_secret": {"kubeconfig": kube.kubeconfig_path}}, **kwargs)
    for text in (result.stdout, result.stderr):
        assert CANARY not in text
    return result


def stored(kube):
    return kube.get("bitnami.com/v1alpha1", "SealedSecret", "hermes-secrets", "hermes-mcp")


def test_fetch_apply_idempotent_check_mode_and_update(cluster, key_pair, tmp_path):
    kube = cluster
    result = play(kube, tmp_path, [seal("create")])
    first = result.task("create")
    assert result.rc == 0 and first["changed"] and first["applied"] and first["resealed"], result.stdout
    assert len(kube.requests_matching("GET", CERT_PATH)) == 1
    obj = stored(kube)
    assert controller.unseal(key_pair[0], obj) == {"SMTP_PASSWORD": CANARY.encode(),
                                                   "OAUTH_CLIENT_SECRET": ("second-" + CANARY).encode()}
    assert obj["metadata"]["annotations"]["squaremcp.infra/sealed-digest"] == first["digest"]
    assert first["certificate"]["sha256"] and first["keys"] == ["OAUTH_CLIENT_SECRET", "SMTP_PASSWORD"]

    # someone else's annotation on the stored object survives every update
    annotations = dict(obj["metadata"]["annotations"], owner="platform")
    kube.apply(dict(obj, metadata=dict(obj["metadata"], annotations=annotations)))
    kube.clear_requests()
    result = play(kube, tmp_path, [
        seal("again"),
        seal("check", check_mode=True, string_data={"SMTP_PASSWORD": "new-" + CANARY}),
    ])
    assert result.rc == 0, result.stdout
    again, check = result.task("again"), result.task("check")
    assert not again["changed"] and not again["resealed"] and not again["applied"]
    assert check["changed"] and check["applied"] and check["resealed"]
    assert check["diff"]["before"]["keys"] == ["OAUTH_CLIENT_SECRET", "SMTP_PASSWORD"]
    assert check["diff"]["after"]["keys"] == ["SMTP_PASSWORD"]
    assert not [r for r in kube.requests_matching() if r.method in WRITES], "a no-op or check-mode run wrote"
    assert stored(kube)["spec"] == obj["spec"]

    result = play(kube, tmp_path, [seal("update", string_data={"SMTP_PASSWORD": "new-" + CANARY})])
    update = result.task("update")
    assert result.rc == 0 and update["changed"] and update["applied"], result.stdout
    new = stored(kube)
    assert controller.unseal(key_pair[0], new) == {"SMTP_PASSWORD": ("new-" + CANARY).encode()}
    assert new["metadata"]["annotations"]["owner"] == "platform"
    assert new["metadata"]["annotations"]["squaremcp.infra/sealed-digest"] == update["digest"] != first["digest"]
    assert [r.method for r in kube.requests_matching(path=r"/sealedsecrets/hermes-secrets$")
            if r.method in WRITES] == ["PUT"]


def test_dest_and_apply_hold_the_same_ciphertext(cluster, key_pair, tmp_path):
    kube = cluster
    dest = tmp_path / "hermes-mcp-hermes-secrets.yaml"
    result = play(kube, tmp_path, [seal("both", dest=str(dest), scope="namespace-wide"),
                                   seal("both_again", dest=str(dest), scope="namespace-wide")])
    assert result.rc == 0, result.stdout
    assert result.task("both")["changed"] and not result.task("both_again")["changed"]
    in_file = yaml.safe_load(dest.read_text())
    in_cluster = stored(kube)
    assert in_file["spec"] == in_cluster["spec"]
    assert in_cluster["metadata"]["annotations"]["sealedsecrets.bitnami.com/namespace-wide"] == "true"
    assert controller.unseal(key_pair[0], dict(in_file, metadata=dict(in_file["metadata"], name="renamed")))[
        "SMTP_PASSWORD"] == CANARY.encode()  # namespace-wide: any name in the namespace opens it


def test_helm_controller_name_and_port_name_from_the_service(kube, key_pair, tmp_path):
    kube.service_proxy("sealed-secrets", "sealed-secrets", "v1/cert.pem", body=key_pair[1],
                       content_type="application/x-pem-file", port_name="web")
    result = play(kube, tmp_path, [seal("helm", controller_name="sealed-secrets", controller_namespace="sealed-secrets",
                                        apply=False)])
    assert result.rc == 0 and not result.task("helm").get("failed"), result.stdout
    assert kube.requests_matching("GET", r"/services/http%3Asealed-secrets%3Aweb/proxy/v1%2Fcert\.pem")


FAULTS = [
    ("RBAC denies the service proxy", lambda k: k.deny(verb="get", resource="services/proxy"), "HTTP 403"),
    ("API server fails on create", lambda k: k.fail("POST", r"/sealedsecrets", status=500), "HTTP 500"),
    ("RBAC denies the update", lambda k: k.deny(verb="create", resource="sealedsecrets"), "RBAC denied it"),
    ("no controller endpoint", lambda k: k.fail("GET", r"/proxy/", status=503), "no ready endpoint"),
]


@pytest.mark.parametrize("case,inject,message", FAULTS, ids=[f[0] for f in FAULTS])
def test_api_faults_fail_cleanly(cluster, tmp_path, case, inject, message):
    inject(cluster)
    result = play(cluster, tmp_path, [seal("faulty")])
    outcome = result.task("faulty")
    assert outcome["failed"], case
    assert message in outcome["msg"], outcome["msg"]
    assert outcome["msg"].startswith("hermes-mcp/hermes-secrets: ")
    assert stored(cluster) is None
    assert CANARY not in json.dumps(outcome)


def test_missing_controller_and_expired_certificate(kube, tmp_path):
    result = play(kube, tmp_path, [seal("no_controller")])
    assert "reading the Sealed Secrets controller Service kube-system/sealed-secrets-controller" in \
        result.task("no_controller")["msg"]
    _key, expired = controller.key_pair(2048, expired=True)
    kube.service_proxy("kube-system", "sealed-secrets-controller", "v1/cert.pem", body=expired,
                       content_type="application/x-pem-file")
    result = play(kube, tmp_path, [seal("expired")])
    assert "expired on" in result.task("expired")["msg"]
    assert stored(kube) is None


@pytest.mark.parametrize("method", ["POST", "PUT"], ids=["create fails", "update fails"])
def test_failed_apply_leaves_the_files_byte_identical(cluster, key_pair, tmp_path, method):
    """The cluster is written first: a manifest in git must never claim what the cluster refused."""
    kube = cluster
    dest, cert_dest = tmp_path / "hermes-secrets.yaml", tmp_path / "cert.pem"
    if method == "PUT":  # an applied object and its manifest exist; a new value must replace both or neither
        result = play(kube, tmp_path, [seal("first", dest=str(dest), certificate_dest=str(cert_dest))])
        assert result.rc == 0 and result.task("first")["applied"], result.stdout
    else:  # nothing in the cluster; a stale manifest and an old certificate sit in the files
        dest.write_bytes(b"# stale manifest, kept byte for byte\n--- {kind: SealedSecret, metadata: {name: hermes-secrets, "
                         b"namespace: hermes-mcp}}\n")
        cert_dest.write_bytes(b"not the controller's certificate\n")
    before = {path: path.read_bytes() for path in (dest, cert_dest)}
    kube.fail(method, r"/sealedsecrets", status=500)
    result = play(kube, tmp_path, [seal("refused", dest=str(dest), certificate_dest=str(cert_dest),
                                        string_data={"SMTP_PASSWORD": "rotated-" + CANARY})])
    refused = result.task("refused")
    assert refused["failed"] and "HTTP 500" in refused["msg"], refused
    assert {path: path.read_bytes() for path in (dest, cert_dest)} == before
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # no staged file left behind
    if method == "PUT":
        assert controller.unseal(key_pair[0], stored(kube)) == {
            "SMTP_PASSWORD": CANARY.encode(), "OAUTH_CLIENT_SECRET": ("second-" + CANARY).encode()}
    else:
        assert stored(kube) is None


def test_certificate_only_fetches_and_writes_the_certificate(cluster, key_pair, tmp_path):
    """The role's standalone certificate step: no Secret, no name, idempotent, check mode writes nothing."""
    kube = cluster
    cert_dest = tmp_path / "sealed-secrets-cert.pem"
    fetch = {"squaremcp.infra.sealed_secret": {"certificate_only": True, "certificate_dest": str(cert_dest)}}
    result = play(kube, tmp_path, [dict(fetch, name="check", check_mode=True)])
    assert result.rc == 0 and result.task("check")["changed"] and not cert_dest.exists(), result.stdout
    assert result.task("check")["diff"]["before"] == {}
    result = play(kube, tmp_path, [dict(fetch, name="fetch"), dict(fetch, name="again")])
    assert result.rc == 0, result.stdout
    fetched, again = result.task("fetch"), result.task("again")
    assert fetched["changed"] and not again["changed"]
    assert cert_dest.read_text() == key_pair[1]
    assert fetched["certificate"]["pem"] == key_pair[1] and fetched["certificate"]["key_size"] == 2048
    assert fetched["diff"]["after"]["sha256"] == fetched["certificate"]["sha256"]
    assert "sealed_secret" not in fetched and "keys" not in fetched
    assert len(kube.requests_matching("GET", CERT_PATH)) == 3  # once per run, check mode included
    assert not [r for r in kube.requests_matching() if r.method in WRITES]


def test_certificate_only_refuses_sealing_options(cluster, tmp_path):
    result = play(cluster, tmp_path, [{
        "name": "misused", "ignore_errors": True,
        "squaremcp.infra.sealed_secret": {"certificate_only": True, "name": "x", "namespace": "hermes-mcp",
                                          "string_data": {"K": CANARY}, "apply": True}}])
    misused = result.task("misused")
    assert misused["failed"]
    assert "certificate_only seals nothing, so name, namespace, string_data, apply cannot be used" in misused["msg"]
    assert misused["msg"].startswith("certificate of kube-system/sealed-secrets-controller: ")
    result = play(cluster, tmp_path, [{"name": "nameless", "ignore_errors": True,
                                       "squaremcp.infra.sealed_secret": {"string_data": {"K": CANARY}}}])
    assert "certificate_only is False but all of the following are missing: name, namespace" in \
        result.task("nameless")["msg"]

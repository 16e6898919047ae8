# -*- coding: utf-8 -*-
"""playbooks/runbooks/seal_plaintext_secrets.yml on a realistic stand-in of hermes-k8s.yaml.

Seed finding §6: hermes-k8s.yaml holds plaintext secrets (e-mail, DB, OAuth, API keys). The runbook
must turn its Secrets into SealedSecret manifests that open to exactly those values, print no value
at all (not even at -vv, not even in diff mode), and tell the operator to delete and rotate."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.fixtures.sealed_secrets import controller

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "sealed_secrets", "hermes-k8s.yaml")
RUNBOOK = os.path.join(ROOT, "playbooks", "runbooks", "seal_plaintext_secrets.yml")
DIGEST_KEY = "runbook-digest-key-0123456789"


def fixture_secrets():
    documents = [doc for doc in yaml.safe_load_all(open(FIXTURE)) if doc]
    secrets = {}
    for doc in documents:
        if doc["kind"] == "Secret":
            values = {k: str(v).encode() for k, v in (doc.get("stringData") or {}).items()}
            values.update({k: base64.b64decode(v) for k, v in (doc.get("data") or {}).items()})
            secrets[doc["metadata"]["name"]] = values
    return secrets


def forbidden_strings():
    """Every value of the stand-in (plain and base64) and the literal env value."""
    strings = {"fake-admin-token-0003"}
    for values in fixture_secrets().values():
        for value in values.values():
            if value in (b"smtp.gmail.com",):  # a host name is not secret and appears in no output anyway
                continue
            strings.add(value.decode())
            strings.add(base64.b64encode(value).decode())
    return strings


def run_runbook(tmp_path, *extra, verbosity="-vv"):
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", TMPDIR=str(tmp_path),
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="yaml")
    args = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", verbosity,
            "--diff", RUNBOOK] + list(extra)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def written(out_dir):
    """The files below ``out_dir``, relative, sorted."""
    return sorted(str(path.relative_to(out_dir)) for path in out_dir.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def controller_key(tmp_path_factory):
    key, cert = controller.key_pair(2048)
    path = tmp_path_factory.mktemp("cert") / "sealed-secrets-cert.pem"
    path.write_text(cert)
    return key, str(path)


def test_runbook_seals_hermes_without_printing_values(tmp_path, controller_key):
    key, cert_path = controller_key
    plaintext = tmp_path / "hermes-k8s.yaml"
    shutil.copy(FIXTURE, plaintext)
    out_dir = tmp_path / "sealed"
    args = ["-e", "seal_plaintext_manifest=%s" % plaintext, "-e", "seal_output_dir=%s" % out_dir,
            "-e", "seal_certificate_path=%s" % cert_path, "-e", "seal_digest_key=%s" % DIGEST_KEY]
    first = run_runbook(tmp_path, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    for text in (first.stdout, first.stderr):
        for secret in forbidden_strings():
            assert secret not in text, "a value leaked into the output"

    assert written(out_dir) == ["hermes-mcp/hermes-db.yaml", "hermes-mcp/hermes-secrets.yaml"]
    expected = fixture_secrets()
    for name in ("hermes-secrets", "hermes-db"):
        text = (out_dir / "hermes-mcp" / ("%s.yaml" % name)).read_text()
        for secret in forbidden_strings():
            assert secret not in text
        manifest = yaml.safe_load(text)
        assert manifest["kind"] == "SealedSecret"
        assert manifest["metadata"]["namespace"] == "hermes-mcp"
        assert controller.unseal(key, manifest) == expected[name]
        assert "kubectl.kubernetes.io/last-applied-configuration" not in \
            (manifest["spec"]["template"]["metadata"].get("annotations") or {})

    assert "shred -u %s" % plaintext in first.stdout
    assert "ROTATE every value" in first.stdout
    assert "SMTP_PASSWORD" in first.stdout and "POSTGRES_PASSWORD" in first.stdout
    assert "Deployment/hermes-mcp container hermes-mcp env HERMES_ADMIN_TOKEN" in first.stdout
    assert "Deployment hermes-mcp" in first.stdout and "Ingress hermes-mcp" in first.stdout
    assert not (out_dir / "hermes-k8s-without-secrets.yaml").exists()  # literal env values block it

    before = {name: (out_dir / name).read_bytes() for name in written(out_dir)}
    second = run_runbook(tmp_path, *args, verbosity="-v")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in second.stdout
    assert {name: (out_dir / name).read_bytes() for name in written(out_dir)} == before


def test_secrets_whose_old_file_names_collide_get_their_own_files(tmp_path, controller_key):
    """a-b/c and a/b-c were both written to a-b-c.yaml, the second overwriting the first."""
    key, cert_path = controller_key
    plaintext = tmp_path / "two.yaml"
    plaintext.write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c", "namespace": "a-b"},
         "stringData": {"WHO": "fake-value-of-a-b-c"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b-c", "namespace": "a"},
         "stringData": {"WHO": "fake-value-of-a-bc"}},
    ]))
    out_dir = tmp_path / "sealed"
    result = run_runbook(tmp_path, "-e", "seal_plaintext_manifest=%s" % plaintext, "-e", "seal_output_dir=%s" % out_dir,
                         "-e", "seal_certificate_path=%s" % cert_path, "-e", "seal_digest_key=%s" % DIGEST_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert written(out_dir) == ["a-b/c.yaml", "a/b-c.yaml"]
    assert controller.unseal(key, yaml.safe_load((out_dir / "a-b" / "c.yaml").read_text())) == {
        "WHO": b"fake-value-of-a-b-c"}
    assert controller.unseal(key, yaml.safe_load((out_dir / "a" / "b-c.yaml").read_text())) == {
        "WHO": b"fake-value-of-a-bc"}


def test_runbook_writes_the_remaining_documents_and_refuses_bad_input(tmp_path, controller_key):
    _key, cert_path = controller_key
    documents = [doc for doc in yaml.safe_load_all(open(FIXTURE)) if doc]
    env = documents[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    kept = [e for e in env if "value" not in e or e["name"] == "NODE_ENV"]
    documents[0]["spec"]["template"]["spec"]["containers"][0]["env"] = kept
    plaintext = tmp_path / "hermes-k8s.yaml"
    plaintext.write_text(yaml.safe_dump_all(documents))
    out_dir = tmp_path / "sealed"
    result = run_runbook(tmp_path, "-e", "seal_plaintext_manifest=%s" % plaintext, "-e",
                         "seal_output_dir=%s" % out_dir, "-e", "seal_certificate_path=%s" % cert_path,
                         "-e", "seal_write_remaining=true")
    assert result.returncode == 0, result.stdout + result.stderr
    remaining = [doc for doc in yaml.safe_load_all((out_dir / "hermes-k8s-without-secrets.yaml").read_text()) if doc]
    assert [doc["kind"] for doc in remaining] == ["Deployment", "Service", "Ingress"]
    assert "no digest_key" in result.stdout + result.stderr  # warned: every run re-seals

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: bad, namespace: hermes}\n"
                   "stringData: {'bad key': fake-bad-value-0099}\n")
    failed = run_runbook(tmp_path, "-e", "seal_plaintext_manifest=%s" % bad, "-e", "seal_output_dir=%s" % out_dir,
                         "-e", "seal_certificate_path=%s" % cert_path)
    assert failed.returncode != 0
    assert "invalid Secret key name" in failed.stdout
    assert "fake-bad-value-0099" not in failed.stdout + failed.stderr

# -*- coding: utf-8 -*-
"""tools/repo_check.py against a throwaway git repository with positives and negatives."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.fixtures.sealed_secrets import controller

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("repo_check", os.path.join(ROOT, "tools", "repo_check.py"))
repo_check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(repo_check)

CANARY = "canary-RepoCheck-value-31d"
B64 = base64.b64encode(CANARY.encode()).decode()


@pytest.fixture(scope="module")
def private_key_pem():
    key, _cert = controller.key_pair(2048)
    return controller.private_pem(key)


@pytest.fixture(scope="module")
def public_pems():
    key, cert = controller.key_pair(2048)
    from cryptography.hazmat.primitives import serialization

    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return cert, public


@pytest.fixture(scope="module")
def openssh_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()


def make_repo(path, files, commit=True):
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, content in files.items():
        full = path / name
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(content)
    if commit:
        subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"],
                       check=True)
    return str(path)


def indent(text, spaces):
    return "\n".join(" " * spaces + line for line in text.splitlines())


SECRET = """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hermes-mcp, namespace: hermes}
spec:
  template:
    spec:
      containers: [{name: hermes, image: hermes:1}]
---
apiVersion: v1
kind: Secret
metadata:
  name: hermes-secrets
  namespace: hermes
type: Opaque
stringData:
  SMTP_PASSWORD: %s
""" % CANARY


def positives(private_key_pem, openssh_key):
    return {
        "k8s/hermes-k8s.yaml": SECRET,
        "k8s/data.yml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: hermes}\ndata:\n"
                        "  DB_PASSWORD: %s\n" % B64,
        "roles/x/templates/secret.yaml.j2": (
            "{% if enabled %}\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ name }}\n  namespace: hermes\n"
            "stringData:\n  templated: \"{{ vault_x }}\"\n  literal: " + CANARY + "\n{% endif %}\n"),
        "roles/x/tasks/main.yml": (
            "---\n- name: Create a secret\n  kubernetes.core.k8s:\n    definition:\n      apiVersion: v1\n"
            "      kind: Secret\n      metadata: {name: api, namespace: hermes}\n      stringData:\n"
            "        API_KEY: %s\n" % CANARY),
        "k8s/secret.json": json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"},
                                       "data": {"token": B64}}),
        "k8s/broken.yaml": "kind: Secret\nstringData:\n  KEY: [unclosed %s\n" % CANARY,
        "tests/integration/data/leak.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\nstringData:\n"
                                            "  K: %s\n" % CANARY,
        "keys/id_rsa.pem": private_key_pem,
        "docs/embedded.py": "KEY = '''\n%s'''\n" % private_key_pem,
        "group_vars/all.yml": "---\ntls_key: |\n%s\n" % indent(private_key_pem, 2),
        "config/sa.json": json.dumps({"private_key": private_key_pem}),
        "ssh/id_ed25519": openssh_key,
        "ssh/key.ppk": "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPrivate-Lines: 1\nAAAA\n",
    }


def test_positives_are_all_found_and_values_never_printed(tmp_path, private_key_pem, openssh_key, capsys):
    files = positives(private_key_pem, openssh_key)
    root = make_repo(tmp_path, files)
    findings = repo_check.check(root)
    flagged = {finding.split(":", 1)[0] for finding in findings}
    assert flagged == set(files), findings
    assert repo_check.main(["--root", root]) == 1
    out = capsys.readouterr().out
    assert CANARY not in out and B64 not in out and private_key_pem.splitlines()[1] not in out
    assert "roles/x/templates/secret.yaml.j2: document 1: plaintext Secret hermes/{{...}} (stringData keys literal)" in out
    assert "k8s/hermes-k8s.yaml: document 2: plaintext Secret hermes/hermes-secrets (stringData keys SMTP_PASSWORD)" \
        in out
    assert "keys/id_rsa.pem:1: RSA PRIVATE KEY block" in out
    assert "ssh/id_ed25519:1: OPENSSH PRIVATE KEY block" in out


SEALED = (
    "---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s, namespace: hermes}\n"
    "spec:\n  encryptedData:\n    K: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq\n  template:\n"
    "    metadata: {name: s, namespace: hermes}\n    type: Opaque\n")


def any_name_positives():
    """Plaintext Secrets in files that are not YAML by name: (path, content, what the finding says)."""
    return {
        "k8s/hermes-k8s.yaml.bak": (SECRET, "document 2: plaintext Secret hermes/hermes-secrets (stringData keys "
                                            "SMTP_PASSWORD)"),
        "notes/db-secret.txt": ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: hermes}\ndata:\n"
                                "  DB_PASSWORD: %s\n" % B64, "plaintext Secret hermes/db (data keys DB_PASSWORD)"),
        "k8s/hermes-secret": (json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "j"},
                                          "data": {"token": B64}}), "plaintext Secret ?/j (data keys token)"),
        "docs/setup.md": ("# Setup\n\nApply this first:\n\n```yaml\napiVersion: v1\nkind: Secret\nmetadata:\n"
                          "  name: smtp\n  namespace: hermes\nstringData:\n  SMTP_PASSWORD: %s\n```\n\nThen run "
                          "the playbook: it reads kind: Secret objects.\n" % CANARY,
                          "docs/setup.md:6: embedded plaintext Secret hermes/smtp (stringData keys SMTP_PASSWORD)"),
        "scripts/bootstrap.sh": ("#!/bin/sh\nset -e\nkubectl apply -f - <<EOF\napiVersion: v1\nkind: Secret\n"
                                 "metadata:\n  name: oauth\n  namespace: hermes\nstringData:\n  CLIENT_SECRET: %s\n"
                                 "EOF\necho done\n" % CANARY,
                                 "scripts/bootstrap.sh:4: embedded plaintext Secret hermes/oauth (stringData keys "
                                 "CLIENT_SECRET)"),
        "notes/list.txt": ("Objects to create by hand:\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: l}\n"
                           "    stringData: {K: %s}\n  - apiVersion: v1\n    kind: ConfigMap\n" % CANARY,
                           "document 1: plaintext Secret ?/l (stringData keys K)"),
        "notes/dash.txt": ("Paste into the cluster:\n- kind: Secret\n  metadata: {name: m}\n  data: {K: %s}\n"
                           "@ops: not YAML, so the file is read block by block\n" % B64,
                           "notes/dash.txt:2: embedded plaintext Secret ?/m (data keys K)"),
    }


def test_plaintext_secrets_are_found_whatever_the_file_name(tmp_path, capsys):
    cases = any_name_positives()
    root = make_repo(tmp_path, {name: content for name, (content, _what) in cases.items()})
    findings = repo_check.check(root)
    assert sorted(finding.split(":", 1)[0] for finding in findings) == sorted(cases), findings
    for name, (_content, what) in cases.items():
        assert any(finding.startswith(name + ":") and what in finding for finding in findings), (name, findings)
    assert repo_check.main(["--root", root]) == 1
    out = capsys.readouterr().out
    assert CANARY not in out and B64 not in out


def test_files_of_any_name_without_plaintext_secrets_are_clean(tmp_path):
    files = {
        "k8s/sealed.yaml.bak": SEALED,
        "notes/templated.txt": ("apiVersion: v1\nkind: Secret\nmetadata: {name: t}\nstringData:\n"
                                "  A: \"{{ vault_a }}\"\n  B: ''\n"),
        "notes/prose.txt": ("Never commit a manifest with\nkind: Secret\nand data: or stringData: in it; seal it.\n"),
        "docs/howto.md": ("```yaml\napiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData:\n"
                          "  PASSWORD: \"{{ vault_x_password }}\"\n```\n"),
        "tools/helper.py": ("def secret(name, crt, key):\n    return {\n        \"apiVersion\": \"v1\",\n"
                            "        \"kind\": \"Secret\",\n        \"metadata\": {\"name\": name},\n"
                            "        \"data\": {\"tls.crt\": b64(crt), \"tls.key\": b64(key)},\n    }\n"),
        "k8s/configmap": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {K: V}\n",
    }
    root = make_repo(tmp_path, files)
    binary = tmp_path / "k8s" / "image.bin"
    binary.write_bytes(b"\0\x01kind: Secret\nstringData:\n  K: %s\n" % CANARY.encode())
    subprocess.run(["git", "-C", root, "add", "-A"], check=True)
    assert repo_check.check(root) == []


def test_untracked_files_are_checked_but_ignored_ones_are_not(tmp_path):
    root = make_repo(tmp_path, {".gitignore": "local/\n", "README.md": "x\n"})
    (tmp_path / "new.yaml").write_text("kind: Secret\napiVersion: v1\nstringData: {K: %s}\n" % CANARY)
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "hermes-k8s.yaml").write_text(SECRET)
    assert [f.split(":", 1)[0] for f in repo_check.check(root)] == ["new.yaml"]


def test_negatives_are_clean(tmp_path, private_key_pem, public_pems):
    cert, public = public_pems
    files = {
        "k8s/sealed.yaml": SEALED,
        "inventory/production/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n6134353335\n",
        "roles/y/templates/secret.yaml.j2": (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: '{{ name }}', namespace: hermes}\n"
            "stringData:\n  A: \"{{ vault_a }}\"\n  B: '{{ vault_b | b64encode }}'\n  C: {{ vault_c }}\n"
            "{% for k, v in extra.items() %}\n  {{ k }}: \"{{ v }}\"\n{% endfor %}\n"),
        "roles/y/tasks/main.yml": (
            "---\n- name: Read the key Secrets\n  kubernetes.core.k8s_info:\n    kind: Secret\n"
            "    namespace: kube-system\n    label_selectors: [sealedsecrets.bitnami.com/sealed-secrets-key]\n"
            "- name: Remove\n  kubernetes.core.k8s: {kind: Secret, name: old, namespace: x, state: absent}\n"),
        "group_vars/inline_vault.yml": "---\nsecret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6134\n",
        "k8s/empty.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: e}\ntype: kubernetes.io/tls\ndata: {}\n",
        "k8s/null-values.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: e}\nstringData: {A: '', B: null}\n",
        "k8s/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"
                              "  example.yaml: |\n    kind: Secret\n    stringData: {K: V}\n",
        "docs/keys.md": "OpenSSH keys start with -----BEGIN OPENSSH PRIVATE KEY----- and must never be committed.\n",
        "certs/ca.pem": cert,
        "certs/pub.pem": public,
        "tests/fixtures/example/hermes-k8s.yaml": SECRET,
        "tests/fixtures/keys/test-key.pem": private_key_pem,
        "tools/repo_check.py": open(os.path.join(ROOT, "tools", "repo_check.py")).read(),
    }
    root = make_repo(tmp_path, files)
    assert repo_check.check(root) == []
    assert repo_check.main(["--root", root]) == 0


def test_this_repository_is_clean():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "repo_check.py"), "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout) == []


def test_allowlist_is_explicit():
    assert [pattern for pattern, _why in repo_check.ALLOWLIST] == [
        "tests/fixtures/*",
        "tests/integration/test_ingress_class.py", "tests/unit/test_ingress_manifests.py",
        "tests/integration/test_bad_input_ingress_class.py"]
    assert not repo_check.allowed("tests/integration/test_ingress_class_extra.py")
    assert repo_check.allowed("tests/fixtures/sealed_secrets/hermes-k8s.yaml")
    assert not repo_check.allowed("tests/unit/hermes-k8s.yaml")
    assert not repo_check.allowed("fixtures/hermes-k8s.yaml")

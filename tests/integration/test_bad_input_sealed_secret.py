# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.sealed_secret under abuse, through ansible-playbook: certificates it must not seal to
(weak keys, not yet valid, bundles, a private key), manifest files it does not own alone (other
documents are kept, a foreign or broken file is refused), symbolic links, and messages that neither
carry a secret nor are garbled by Ansible's masking of a short digest_key. Every refused case leaves
every file byte for byte as it was (mode, owner, inode, mtime)."""

from __future__ import annotations

import datetime
import os
import textwrap

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.badinput import run_cases, state, texts

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.sealed_secret"
CANARY = "canary-S3aled-77aa"
DIGEST_KEY = "bad-input-digest-key-0123456789"
NOW = datetime.datetime.now(datetime.timezone.utc)


def certificate(key_size=2048, start_days=-1, ca=False, issuer=None, name="sealed-secret"):
    """(key, certificate) signed by ``issuer`` ((key, certificate)) or self-signed."""
    key = rsa.generate_private_key(65537, key_size)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_key, signer_name = (issuer[0], issuer[1].subject) if issuer else (key, subject)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(signer_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW + datetime.timedelta(days=start_days))
            .not_valid_after(NOW + datetime.timedelta(days=start_days + 365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer_key, hashes.SHA256()))
    return key, cert


def pem(*certs):
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


@pytest.fixture(scope="module")
def good():
    return certificate()


def case_dir(tmp_path, case, files=None):
    directory = tmp_path / case
    directory.mkdir()
    for name, text in (files or {}).items():
        (directory / name).write_text(text)
        os.chown(directory / name, 1234, 4321)
        os.chmod(directory / name, 0o640)
    return directory


def seal_args(directory, certificate_path, **extra):
    args = {"name": "hermes-secrets", "namespace": "hermes-mcp", "string_data": {"PASSWORD": CANARY},
            "certificate_path": str(certificate_path), "digest_key": DIGEST_KEY, "dest": str(directory / "sealed.yaml")}
    args.update(extra)
    return args


def test_certificates_that_cannot_be_sealed_to_are_refused(tmp_path, good):
    ca = certificate(ca=True, name="cluster-ca")
    issued = certificate(issuer=ca, name="sealed-secret")
    bad = {
        "weak-1024-bit-key": (pem(certificate(key_size=1024)[1]), "at least 2048 bits"),
        "not-yet-valid": (pem(certificate(start_days=2)[1]), "not valid before"),
        "ca-first-bundle": (pem(ca[1], issued[1]), "the first is the CA that issued certificate 2"),
        "two-certificates": (pem(good[1], certificate()[1]), "holds 2 certificates"),
        "certificate-with-private-key": (pem(good[1]) + good[0].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
            "holds a private key"),
    }
    cases, bases = {}, {}
    for name, (text, _message) in bad.items():
        bases[name] = case_dir(tmp_path, name, {"cert.pem": text})
        cases[name] = seal_args(bases[name], bases[name] / "cert.pem")
    before = {name: state(base) for name, base in bases.items()}
    run = run_cases(tmp_path, MODULE, cases, diff=True, verbosity=3)
    for name, (_text, message) in bad.items():
        result = run[name]
        assert result.get("failed") and message in result["msg"], (name, result.get("msg"))
        assert "Traceback" not in str(result) and "MODULE FAILURE" not in result["msg"], name
        assert state(bases[name]) == before[name], name
    assert CANARY not in run.output and not [t for r in run.results.values() for t in texts(r) if CANARY in t]


OTHER_DOCS = """\
# kept: a ConfigMap the team keeps beside the secret
apiVersion: v1
kind: ConfigMap
metadata: {name: hermes-config, namespace: hermes-mcp}
data: {LOG_LEVEL: info}
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: hermes-secrets, namespace: hermes-mcp}
spec: {encryptedData: {PASSWORD: AgBold==}, template: {metadata: {name: hermes-secrets, namespace: hermes-mcp}}}
---
apiVersion: v1
kind: Service
metadata: {name: hermes, namespace: hermes-mcp}
spec: {ports: [{port: 80}]}
"""


def test_manifest_files_the_module_does_not_own_alone(tmp_path, good):
    cert = tmp_path / "cert.pem"
    cert.write_text(pem(good[1]))
    refused = {
        "foreign-sealed-secret": ("""\
            apiVersion: bitnami.com/v1alpha1
            kind: SealedSecret
            metadata: {name: registry-pull, namespace: hermes-mcp}
            spec: {encryptedData: {x: AgB=}}
            """, "holds no SealedSecret hermes-mcp/hermes-secrets"),
        "malformed": ("apiVersion: v1\nkind: [Secret\n", "does not parse"),
        "two-of-ours": (OTHER_DOCS.split("---\n")[1] + "---\n" + OTHER_DOCS.split("---\n")[1],
                        "holds 2 SealedSecrets hermes-mcp/hermes-secrets"),
    }
    cases, bases = {}, {}
    for name, (text, _message) in refused.items():
        bases[name] = case_dir(tmp_path, name, {"sealed.yaml": textwrap.dedent(text)})
        cases[name] = seal_args(bases[name], cert)
    bases["dest-link"] = case_dir(tmp_path, "dest-link", {"outside.yaml": "keep: me\n"})
    os.symlink(str(bases["dest-link"] / "outside.yaml"), str(bases["dest-link"] / "sealed.yaml"))
    cases["dest-link"] = seal_args(bases["dest-link"], cert)
    bases["certificate-dest-link"] = case_dir(tmp_path, "certificate-dest-link", {"outside.pem": "keep\n"})
    os.symlink(str(bases["certificate-dest-link"] / "outside.pem"), str(bases["certificate-dest-link"] / "cert.pem"))
    cases["certificate-dest-link"] = seal_args(bases["certificate-dest-link"], cert,
                                               certificate_dest=str(bases["certificate-dest-link"] / "cert.pem"))
    kept = case_dir(tmp_path, "other-documents", {"sealed.yaml": OTHER_DOCS})
    cases["other-documents"] = seal_args(kept, cert)
    before = {name: state(base) for name, base in bases.items()}
    run = run_cases(tmp_path, MODULE, cases, diff=True)
    for name, base in bases.items():
        message = refused[name][1] if name in refused else "is a symbolic link"
        result = run[name]
        assert result.get("failed") and message in result["msg"], (name, result.get("msg"))
        assert state(base) == before[name], name  # certificate-dest-link: the manifest was not written either
    result = run["other-documents"]
    assert not result.get("failed") and result["changed"], result
    text = (kept / "sealed.yaml").read_text()
    first, sealed, last = text.split("---\n")
    assert [first, last] == OTHER_DOCS.split("---\n")[0::2]  # byte for byte
    assert yaml.safe_load(sealed)["spec"]["encryptedData"]["PASSWORD"] != "AgBold=="
    (tmp_path / "again").mkdir()
    again = run_cases(tmp_path / "again", MODULE, {"again": cases["other-documents"]})
    assert again["again"]["changed"] is False and (kept / "sealed.yaml").read_text() == text


def test_short_digest_key_is_refused_with_a_readable_message(tmp_path, good):
    cert = tmp_path / "cert.pem"
    cert.write_text(pem(good[1]))
    base = case_dir(tmp_path, "short")
    run = run_cases(tmp_path, MODULE, {"short": seal_args(base, cert, digest_key="hermes")})
    msg = run["short"]["msg"]
    assert run["short"]["failed"] and "********" not in msg, msg
    assert msg.startswith("hermes-mcp/hermes-secrets: digest_key is shorter than 16 characters"), msg
    assert state(base) == {}

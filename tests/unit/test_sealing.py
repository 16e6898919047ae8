# -*- coding: utf-8 -*-
"""Unit tests for plugins/module_utils/sealing.py.

Everything the module seals is opened again with tests/fixtures/sealed_secrets/controller.py, which
follows the controller's algorithm (label from the SealedSecret's own metadata)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import struct

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import _sealed_cluster as cluster
from ansible_collections.squaremcp.infra.plugins.module_utils import _sealed_manifest as sealed_manifest
from ansible_collections.squaremcp.infra.plugins.module_utils import sealing
from ansible_collections.squaremcp.infra.plugins.module_utils._sealed_manifest import DestFile
from tests.fixtures.sealed_secrets import controller

CANARY = "canary-S3cr3t-value-7f1e"
DIGEST_KEY = "0123456789abcdef-digest-key"


@pytest.fixture(scope="module")
def rsa2048():
    return controller.key_pair(2048)


@pytest.fixture(scope="module")
def rsa4096():
    return controller.key_pair(4096)


@pytest.fixture(scope="module")
def other_key():
    return controller.key_pair(2048)


def request(cert_pem, **kwargs):
    kwargs.setdefault("name", "hermes-secrets")
    kwargs.setdefault("namespace", "hermes")
    kwargs.setdefault("string_data", {"SMTP_PASSWORD": CANARY})
    return sealing.SealRequest(certificate=sealing.load_certificate(cert_pem), **kwargs)


def seal(cert_pem, **kwargs):
    manifest, resealed = request(cert_pem, **kwargs).manifest()
    assert resealed
    return manifest


def moved(obj, name=None, namespace=None):
    """A copy of ``obj`` renamed / moved, as someone copying the manifest elsewhere would do."""
    copy = yaml.safe_load(yaml.safe_dump(obj))
    if name:
        copy["metadata"]["name"] = name
    if namespace:
        copy["metadata"]["namespace"] = namespace
    return copy


# ---- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("scope", sealing.SCOPES)
def test_round_trip_every_scope(rsa2048, scope):
    key, cert = rsa2048
    manifest = seal(cert, scope=scope, string_data={"SMTP_PASSWORD": CANARY, "DB_URL": "postgres://u:p@db/h"})
    assert controller.unseal(key, manifest) == {"SMTP_PASSWORD": CANARY.encode(), "DB_URL": b"postgres://u:p@db/h"}
    annotations = manifest["metadata"].get("annotations", {})
    template_annotations = manifest["spec"]["template"]["metadata"].get("annotations", {})
    for other in sealing.SCOPES:
        marker = sealing.SCOPE_ANNOTATIONS.get(other)
        if marker:
            assert (annotations.get(marker) == "true") is (other == scope)
            assert (template_annotations.get(marker) == "true") is (other == scope)


def test_round_trip_rsa4096_and_blob_layout(rsa4096, rsa2048):
    for (key, cert), rsa_bytes in ((rsa4096, 512), (rsa2048, 256)):
        manifest = seal(cert)
        blob = base64.b64decode(manifest["spec"]["encryptedData"]["SMTP_PASSWORD"])
        assert struct.unpack(">H", blob[:2])[0] == rsa_bytes
        # RSA part + AES-GCM ciphertext (same length as the plaintext) + 16-byte tag
        assert len(blob) == 2 + rsa_bytes + len(CANARY) + 16
        assert controller.unseal(key, manifest) == {"SMTP_PASSWORD": CANARY.encode()}


def test_empty_value_round_trips(rsa2048):
    key, cert = rsa2048
    manifest = seal(cert, string_data={"EMPTY": ""}, data={"ALSO_EMPTY": ""})
    assert controller.unseal(key, manifest) == {"EMPTY": b"", "ALSO_EMPTY": b""}


def test_binary_value_round_trips(rsa2048):
    key, cert = rsa2048
    blob = os.urandom(4096) + b"\x00\xff\x00"
    manifest = seal(cert, data={"keystore.p12": base64.b64encode(blob).decode()}, string_data=None)
    assert controller.unseal(key, manifest) == {"keystore.p12": blob}


def test_max_size_is_accepted_and_round_trips(rsa2048):
    key, cert = rsa2048
    half = sealing.MAX_SECRET_SIZE // 2
    values = {"a": os.urandom(half), "b": os.urandom(sealing.MAX_SECRET_SIZE - half)}
    manifest = seal(cert, data={k: base64.b64encode(v).decode() for k, v in values.items()}, string_data=None)
    assert controller.unseal(key, manifest) == values


def test_same_value_seals_differently_each_time(rsa2048):
    _key, cert = rsa2048
    first, second = seal(cert), seal(cert)
    assert first["spec"]["encryptedData"] != second["spec"]["encryptedData"]


def test_manifest_shape_matches_kubeseal(rsa2048):
    _key, cert = rsa2048
    manifest = seal(cert, labels={"app": "hermes"}, annotations={"team": "platform"}, secret_type="Opaque",
                    digest_key=DIGEST_KEY)
    assert manifest["apiVersion"] == "bitnami.com/v1alpha1"
    assert manifest["kind"] == "SealedSecret"
    assert manifest["metadata"]["name"] == "hermes-secrets"
    assert manifest["metadata"]["namespace"] == "hermes"
    assert manifest["metadata"]["annotations"][sealing.DIGEST_ANNOTATION].startswith("hmac-sha256:")
    template = manifest["spec"]["template"]
    assert template["type"] == "Opaque"
    assert template["metadata"] == {"name": "hermes-secrets", "namespace": "hermes", "labels": {"app": "hermes"},
                                    "annotations": {"team": "platform"}}
    assert sealing.DIGEST_ANNOTATION not in template["metadata"]["annotations"]


# ---- a sealed value only opens where it was sealed for -----------------------------------------
def test_wrong_private_key_cannot_open(rsa2048, other_key):
    _key, cert = rsa2048
    manifest = seal(cert)
    with pytest.raises(controller.UnsealError):
        controller.unseal(other_key[0], manifest)


@pytest.mark.parametrize("scope,change,opens", [
    ("strict", {"name": "other-name"}, False),
    ("strict", {"namespace": "other-ns"}, False),
    ("namespace-wide", {"name": "other-name"}, True),
    ("namespace-wide", {"namespace": "other-ns"}, False),
    ("cluster-wide", {"name": "other-name", "namespace": "other-ns"}, True),
])
def test_moved_objects_open_only_within_their_scope(rsa2048, scope, change, opens):
    key, cert = rsa2048
    target = moved(seal(cert, scope=scope), **change)
    if opens:
        assert controller.unseal(key, target) == {"SMTP_PASSWORD": CANARY.encode()}
    else:
        with pytest.raises(controller.UnsealError):
            controller.unseal(key, target)


def test_flipping_the_scope_annotation_breaks_it(rsa2048):
    key, cert = rsa2048
    manifest = seal(cert, scope="cluster-wide")
    manifest["metadata"]["annotations"][sealing.SCOPE_ANNOTATIONS["cluster-wide"]] = "false"
    with pytest.raises(controller.UnsealError):
        controller.unseal(key, manifest)


# ---- certificates ----------------------------------------------------------------------------
def test_certificate_info(rsa4096):
    _key, cert = rsa4096
    certificate = sealing.load_certificate(cert)
    info = certificate.info()
    assert info["key_size"] == 4096
    assert len(info["sha256"]) == 64
    assert info["pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_expired_certificate_is_refused():
    _key, cert = controller.key_pair(2048, expired=True)
    with pytest.raises(sealing.SealingError, match="expired on"):
        sealing.load_certificate(cert)


def test_certificate_expiry_uses_now():
    _key, cert = controller.key_pair(2048, days=10)
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=11)
    with pytest.raises(sealing.SealingError, match="expired"):
        sealing.load_certificate(cert, now=later)


def test_certificate_is_expired_from_its_not_after_instant():
    """Same boundary as certs.describe (``now >= notAfter``): a second before it the certificate seals."""
    _key, cert = controller.key_pair(2048, days=10)
    not_after = sealing.load_certificate(cert).not_after
    assert sealing.load_certificate(cert, now=not_after - datetime.timedelta(seconds=1)).not_after == not_after
    with pytest.raises(sealing.SealingError, match="expired"):
        sealing.load_certificate(cert, now=not_after)


def test_certificate_summary_for_diffs(rsa2048):
    _key, cert = rsa2048
    summary = sealing.certificate_summary(cert.encode())
    assert summary["sha256"] == sealing.load_certificate(cert).sha256 and summary["not_after"].endswith("Z")
    assert sealing.certificate_summary(None) == {} and sealing.certificate_summary(b"") == {}
    assert sealing.certificate_summary(b"garbage") == {"content": "not a PEM certificate"}


def test_non_rsa_certificate_is_refused():
    _key, cert = controller.key_pair(kind="ec")
    with pytest.raises(sealing.SealingError, match="only seals with RSA"):
        sealing.load_certificate(cert)


def test_private_key_instead_of_certificate_is_refused_without_echo(rsa2048):
    key, _cert = rsa2048
    pem = controller.private_pem(key)
    with pytest.raises(sealing.SealingError) as err:
        sealing.load_certificate(pem)
    assert "PRIVATE" not in str(err.value) and pem[40:80] not in str(err.value)


def test_garbage_certificate_is_refused():
    broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    with pytest.raises(sealing.SealingError, match="cannot be parsed"):
        sealing.load_certificate(broken)


# ---- bad input: every message names the problem and never the value -------------------------
BAD_INPUTS = [
    ("key with a space", dict(string_data={"bad key": CANARY}), "invalid Secret key name"),
    ("key with a slash", dict(string_data={"a/b": CANARY}), "invalid Secret key name"),
    ("dot key", dict(string_data={".": CANARY}), "must not be '.'"),
    ("dot-dot prefix", dict(string_data={"..data": CANARY}), "start with '..'"),
    ("empty key", dict(string_data={"": CANARY}), "invalid Secret key name"),
    ("non-ascii key", dict(string_data={"pässword": CANARY}), "invalid Secret key name"),
    ("254-byte key", dict(string_data={"k" * 254: CANARY}), "longer than 253"),
    ("over 1 MiB", dict(string_data={"big": CANARY + "x" * sealing.MAX_SECRET_SIZE}), "over Kubernetes' limit"),
    ("data not base64", dict(data={"TOKEN": CANARY + "!!"}, string_data=None), "not valid base64"),
    ("data not a string", dict(data={"TOKEN": [CANARY]}, string_data=None), "not a base64 string"),
    ("key in data and string_data", dict(data={"K": base64.b64encode(CANARY.encode()).decode()},
                                         string_data={"K": CANARY}), "both data and string_data"),
    ("string_data mapping", dict(string_data={"K": {"nested": CANARY}}), "holds a mapping"),
    ("string_data null", dict(string_data={"K": None, "L": CANARY}), "holds a null"),
    ("no keys", dict(string_data={}), "has no keys"),
    ("bad name", dict(name="Hermes_Secrets", string_data={"K": CANARY}), "not a valid Secret name"),
    ("bad namespace", dict(namespace="hermes.prod", string_data={"K": CANARY}), "not a valid namespace"),
    ("bad scope", dict(scope="global", string_data={"K": CANARY}), "scope 'global' is unknown"),
    ("tls without key", dict(secret_type="kubernetes.io/tls", string_data={"tls.crt": CANARY}), "tls.crt, tls.key"),
    ("basic-auth without user/password", dict(secret_type="kubernetes.io/basic-auth",
                                              string_data={"token": CANARY}), "one of the keys username"),
    ("dockerconfigjson not JSON", dict(secret_type="kubernetes.io/dockerconfigjson",
                                       string_data={".dockerconfigjson": CANARY}), "valid JSON"),
    ("scope annotation", dict(annotations={sealing.SCOPE_ANNOTATIONS["cluster-wide"]: "true"},
                              string_data={"K": CANARY}), "managed by the module"),
    ("label not a string", dict(labels={"tier": 3}, string_data={"K": CANARY}), "labels must map strings"),
    ("short digest key", dict(digest_key="short", string_data={"K": CANARY}), "digest_key is shorter"),
]


@pytest.mark.parametrize("case,kwargs,message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_without_values(rsa2048, case, kwargs, message):
    _key, cert = rsa2048
    with pytest.raises(sealing.SealingError) as err:
        request(cert, **kwargs)
    text = str(err.value)
    assert message in text
    assert CANARY not in text
    assert base64.b64encode(CANARY.encode()).decode()[:16] not in text
    assert "x" * 100 not in text


def test_bad_key_names_are_all_listed(rsa2048):
    _key, cert = rsa2048
    with pytest.raises(sealing.SealingError) as err:
        request(cert, string_data={"ok": CANARY, "bad one": CANARY, "bad/two": CANARY})
    assert "'bad one'" in str(err.value) and "'bad/two'" in str(err.value) and "'ok'" not in str(err.value)


def test_long_bad_key_is_shortened_in_the_message(rsa2048):
    _key, cert = rsa2048
    with pytest.raises(sealing.SealingError) as err:
        request(cert, string_data={"y" * 300: CANARY})
    assert "y" * 65 not in str(err.value)


def test_numbers_in_string_data_become_text(rsa2048):
    key, cert = rsa2048
    manifest = seal(cert, string_data={"PORT": 5432})
    assert controller.unseal(key, manifest) == {"PORT": b"5432"}


def test_valid_typed_secret(rsa2048):
    key, cert = rsa2048
    manifest = seal(cert, secret_type="kubernetes.io/dockerconfigjson",
                    string_data={".dockerconfigjson": '{"auths": {}}'})
    assert manifest["spec"]["template"]["type"] == "kubernetes.io/dockerconfigjson"
    assert controller.unseal(key, manifest) == {".dockerconfigjson": b'{"auths": {}}'}


# ---- keyed digest and reuse ---------------------------------------------------------------
def test_unchanged_input_reuses_the_sealed_object(rsa2048):
    _key, cert = rsa2048
    first, resealed = request(cert, digest_key=DIGEST_KEY).manifest()
    assert resealed
    second, resealed = request(cert, digest_key=DIGEST_KEY).manifest(None, first)
    assert not resealed
    assert second == first


def test_labels_change_without_resealing(rsa2048):
    _key, cert = rsa2048
    first, _resealed = request(cert, digest_key=DIGEST_KEY).manifest()
    second, resealed = request(cert, digest_key=DIGEST_KEY, labels={"app": "hermes"}).manifest(first)
    assert not resealed
    assert second["spec"]["encryptedData"] == first["spec"]["encryptedData"]
    assert second["spec"]["template"]["metadata"]["labels"] == {"app": "hermes"}


@pytest.mark.parametrize("change", [
    dict(string_data={"SMTP_PASSWORD": CANARY + "2"}),
    dict(string_data={"SMTP_PASSWORD": CANARY, "EXTRA": "x"}),
    dict(name="hermes-other"),
    dict(namespace="hermes-staging"),
    dict(scope="namespace-wide"),
    dict(secret_type="custom/type"),
    dict(digest_key=DIGEST_KEY + "-rotated"),
])
def test_changed_input_reseals(rsa2048, change):
    _key, cert = rsa2048
    first, _resealed = request(cert, digest_key=DIGEST_KEY).manifest()
    kwargs = dict(digest_key=DIGEST_KEY)
    kwargs.update(change)
    second, resealed = request(cert, **kwargs).manifest(first)
    assert resealed
    assert second["metadata"]["annotations"][sealing.DIGEST_ANNOTATION] != \
        first["metadata"]["annotations"][sealing.DIGEST_ANNOTATION]


def test_new_certificate_reseals(rsa2048, other_key):
    first, _resealed = request(rsa2048[1], digest_key=DIGEST_KEY).manifest()
    second, resealed = request(other_key[1], digest_key=DIGEST_KEY).manifest(first)
    assert resealed
    assert controller.unseal(other_key[0], second) == {"SMTP_PASSWORD": CANARY.encode()}


def test_tampered_digest_is_not_trusted(rsa2048):
    _key, cert = rsa2048
    first, _resealed = request(cert, digest_key=DIGEST_KEY).manifest()
    first["metadata"]["annotations"][sealing.DIGEST_ANNOTATION] = "hmac-sha256:" + "0" * 64
    _second, resealed = request(cert, digest_key=DIGEST_KEY).manifest(first)
    assert resealed


def test_without_digest_key_every_run_reseals(rsa2048):
    _key, cert = rsa2048
    first, _resealed = request(cert).manifest()
    assert sealing.DIGEST_ANNOTATION not in first["metadata"].get("annotations", {})
    second, resealed = request(cert).manifest(first)
    assert resealed and second != first


def test_digest_is_keyed_not_a_plain_hash(rsa2048):
    _key, cert = rsa2048
    a = request(cert, digest_key=DIGEST_KEY).digest
    b = request(cert, digest_key="another-key-of-16-chars").digest
    assert a != b
    hex_digest = a[len("hmac-sha256:"):]
    assert hex_digest != hashlib.sha256(CANARY.encode()).hexdigest()
    assert CANARY not in a


def test_summary_shows_names_and_digests_only(rsa2048):
    _key, cert = rsa2048
    manifest, _resealed = request(cert, digest_key=DIGEST_KEY, string_data={"B": CANARY, "A": CANARY}).manifest()
    summary = sealing.summary(manifest)
    assert summary["keys"] == ["A", "B"]
    assert summary["digest"].startswith("hmac-sha256:")
    assert CANARY not in repr(summary) and "encryptedData" not in repr(summary)


# ---- files ----------------------------------------------------------------------------------
def test_rendered_manifest_parses_back(rsa2048):
    _key, cert = rsa2048
    manifest = seal(cert, scope="namespace-wide", digest_key=DIGEST_KEY, string_data={"K": CANARY})
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    text = DestFile("sealed.yaml", name, namespace).content(manifest)
    assert text.startswith(sealed_manifest.HEADER.encode())
    assert b"\n---\n" in text
    again = DestFile.read("sealed.yaml", text, name, namespace)
    assert again.existing == manifest and again.span is None  # the module's own file: rewritten whole
    assert CANARY.encode() not in text
    assert again.content(again.existing) == text


@pytest.mark.parametrize("content, message", [
    (b"{not: [yaml", "does not parse as YAML"),
    (b"---\nkind: ConfigMap\nmetadata: {name: x}\n", "holds no SealedSecret hermes-mcp/hermes-secrets but ConfigMap -/x"),
    (b"kind: SealedSecret\nmetadata: {name: hermes-secrets, namespace: hermes-mcp}\n---\n"
     b"kind: SealedSecret\nmetadata: {name: hermes-secrets, namespace: hermes-mcp}\n", "holds 2 SealedSecrets"),
    (b"a: 1\na: 2\n", "duplicate key"),
])
def test_dest_the_module_cannot_write_without_losing_content(content, message):
    with pytest.raises(sealed_manifest.ManifestFileError, match=message):
        DestFile.read("sealed.yaml", content, "hermes-secrets", "hermes-mcp")


def test_strip_server_fields():
    meta = {"name": "k", "uid": "1", "resourceVersion": "2", "managedFields": [],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "me"},
            "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}}
    assert sealing.strip_server_fields(meta) == {
        "name": "k", "annotations": {"keep": "me"}, "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}}


def test_needs_update(rsa2048):
    _key, cert = rsa2048
    desired, _resealed = request(cert, digest_key=DIGEST_KEY).manifest()
    stored = moved(desired)
    stored["metadata"].update(uid="u", resourceVersion="7")
    stored["metadata"]["annotations"]["other"] = "kept"
    stored["spec"]["template"]["metadata"]["creationTimestamp"] = None
    assert not cluster.needs_update(stored, desired)
    assert cluster.needs_update(None, desired)
    changed = moved(stored)
    changed["spec"]["template"]["type"] = "Other"
    assert cluster.needs_update(changed, desired)
    changed = moved(stored)
    del changed["metadata"]["annotations"][sealing.DIGEST_ANNOTATION]
    assert cluster.needs_update(changed, desired)

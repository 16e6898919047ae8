# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Seal Kubernetes Secrets for the Bitnami Sealed Secrets controller, in plain Python.

Format (bitnami-labs/sealed-secrets ``pkg/crypto``, ``pkg/apis/sealedsecrets/v1alpha1``): every
value is sealed on its own as ``uint16 BE length of the RSA part || RSA-OAEP(SHA-256, MGF1-SHA-256,
label)(32-byte session key) || AES-256-GCM(zero nonce, no AAD)(value) + tag`` and stored base64 in
``spec.encryptedData``. The OAEP label binds the value to ``<namespace>/<name>`` (strict),
``<namespace>`` (namespace-wide) or nothing (cluster-wide); the controller reads the scope from the
SealedSecret's own annotations.

Sealing is randomised, so re-sealing unchanged input would change every run. Instead a keyed
digest (HMAC-SHA256 with a key from the vault) of the input is recorded in an annotation and an
object with the same digest is reused. A plain hash of the values is never stored: it would let
anyone with the manifest test guesses of low-entropy secrets. Nothing here needs a private key,
and no message ever contains a secret value.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
import re
import struct

from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_inspect import (
    HAS_CRYPTOGRAPHY, is_ca, not_after, not_before)

if HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HAS_YAML = _yaml.HAS_YAML
YAML_IMPORT_ERROR = _yaml.YAML_IMPORT_ERROR

GROUP = "bitnami.com"
VERSION = "v1alpha1"
API_VERSION = GROUP + "/" + VERSION
KIND = "SealedSecret"
PLURAL = "sealedsecrets"

STRICT, NAMESPACE_WIDE, CLUSTER_WIDE = "strict", "namespace-wide", "cluster-wide"
SCOPES = (STRICT, NAMESPACE_WIDE, CLUSTER_WIDE)
SCOPE_ANNOTATIONS = {
    NAMESPACE_WIDE: "sealedsecrets.bitnami.com/namespace-wide",
    CLUSTER_WIDE: "sealedsecrets.bitnami.com/cluster-wide",
}
DIGEST_ANNOTATION = "squaremcp.infra/sealed-digest"
DIGEST_PREFIX = "hmac-sha256:"
DIGEST_KEY_MIN_LENGTH = 16
SEALING_KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
CERTIFICATE_PATH = "v1/cert.pem"
DEFAULT_CONTROLLER_NAME = "sealed-secrets-controller"
DEFAULT_CONTROLLER_NAMESPACE = "kube-system"

MAX_SECRET_SIZE = 1024 * 1024  # Kubernetes ValidateSecret: sum of the values' lengths
MAX_KEY_LENGTH = 253
SESSION_KEY_BYTES = 32
GCM_NONCE = b"\x00" * 12  # one session key per value, so a fixed nonce is safe (as upstream)
MIN_KEY_SIZE = 2048
_PEM_BLOCK = re.compile(rb"(-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \2-----)", re.DOTALL)

_KEY_RE = re.compile(r"\A[-._a-zA-Z0-9]+\Z")
_SUBDOMAIN_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_LABEL_RE = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")

# Keys Kubernetes requires for the well-known Secret types (ValidateSecret); "any" = one of them.
_TYPE_KEYS = {
    "kubernetes.io/tls": ("all", ("tls.crt", "tls.key")),
    "kubernetes.io/dockerconfigjson": ("all", (".dockerconfigjson",)),
    "kubernetes.io/dockercfg": ("all", (".dockercfg",)),
    "kubernetes.io/basic-auth": ("any", ("username", "password")),
    "kubernetes.io/ssh-auth": ("all", ("ssh-privatekey",)),
}
_SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")
_LAST_APPLIED = ("kubectl.kubernetes.io/last-applied-configuration", "kubecfg.ksonnet.io/last-applied-configuration")


class SealingError(Exception):
    """Bad input or an unusable certificate. The message never contains a secret value."""


def _shown(text, limit=64):
    """A key name as shown in messages: quoted, bounded."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


# ---------------------------------------------------------------------------------------------
# Certificate
# ---------------------------------------------------------------------------------------------
class Certificate(object):
    """The controller's certificate: its RSA public key and what identifies it."""

    def __init__(self, cert):
        self.cert = cert
        self.public_key = cert.public_key()
        self.sha256 = _der_sha256(cert)
        self.not_after = not_after(cert)
        self.pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def info(self):
        return {
            "sha256": self.sha256,
            "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": self.cert.subject.rfc4514_string(),
            "key_size": self.public_key.key_size,
            "pem": self.pem,
        }


def _der_sha256(cert):
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_certificate(pem, now=None, source="the certificate"):
    """Parse the controller's PEM certificate; refuse what the controller could not open or should not be sealed
    to: anything but exactly one certificate (bundles, a private key beside it), a non-RSA or weak key, a
    certificate that is not valid yet or any more."""
    if not HAS_CRYPTOGRAPHY:  # pragma: no cover
        raise SealingError("the Python library cryptography is required to seal secrets")
    if isinstance(pem, str):
        pem = pem.encode("utf-8", "replace")
    blocks = [(label, block) for block, label in _PEM_BLOCK.findall(pem or b"")]
    if any(b"PRIVATE KEY" in label for label, _body in blocks):
        raise SealingError(
            "%s holds a private key: pass only the controller's certificate (public); the sealing key must never "
            "leave the cluster -- if it did, rotate it" % source)
    certificates = [body for label, body in blocks if label == b"CERTIFICATE"]
    if not certificates:
        raise SealingError(
            "%s is not a PEM certificate (no BEGIN CERTIFICATE block): pass the controller's cert.pem "
            "(kubeseal --fetch-cert) or let the module fetch it from the controller" % source
        )
    try:
        chain = [x509.load_pem_x509_certificate(body) for body in certificates]
    except ValueError:
        raise SealingError(
            "%s cannot be parsed as an X.509 certificate: fetch the controller's certificate again" % source
        ) from None
    if len(chain) > 1:
        raise SealingError("%s holds %d certificates%s: the controller's cert.pem is exactly one self-signed "
                           "certificate; pass only it (kubeseal --fetch-cert)" % (source, len(chain), _bundle_note(chain)))
    cert = chain[0]
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise SealingError(
            "%s holds a %s key, but Sealed Secrets only seals with RSA keys: use the controller's own "
            "certificate" % (source, type(cert.public_key()).__name__.lstrip("_"))
        )
    if cert.public_key().key_size < MIN_KEY_SIZE:
        raise SealingError(
            "%s has a %d-bit RSA key: Sealed Secrets needs at least %d bits (the controller makes 4096-bit keys); "
            "this is not the controller's certificate, or its key must be rotated" % (
                source, cert.public_key().key_size, MIN_KEY_SIZE))
    certificate = Certificate(cert)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    valid_from = not_before(cert)
    if now < valid_from:
        raise SealingError(
            "%s is not valid before %s: the clock of this host or of the cluster is wrong, or it is not the "
            "controller's current certificate; check both clocks and fetch the certificate again"
            % (source, valid_from.strftime("%Y-%m-%dT%H:%M:%SZ")))
    if now >= certificate.not_after:  # as certs.describe: a certificate is expired from its notAfter instant
        raise SealingError(
            "%s expired on %s: the controller renews its key regularly, fetch its current certificate "
            "(or, if the controller itself is stuck on an expired key, rotate it first)"
            % (source, certificate.not_after.strftime("%Y-%m-%d"))
        )
    return certificate


def _bundle_note(chain):
    first, second = chain[0], chain[1]
    ca = is_ca(first)
    if ca and second.issuer == first.subject:
        return (" and the first is the CA that issued certificate 2 (%s): sealing to it would use the CA's key, which "
                "the controller does not have" % second.subject.rfc4514_string())
    return ""


def certificate_summary(pem):
    """What diff shows of a certificate file's content: SHA-256 (DER), subject, expiry; {} when absent."""
    if not pem:
        return {}
    if isinstance(pem, str):
        pem = pem.encode("utf-8", "replace")
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return {"content": "not a PEM certificate"}
    return {
        "sha256": _der_sha256(cert),
        "subject": cert.subject.rfc4514_string(),
        "not_after": not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------
def encryption_label(scope, namespace, name):
    """The RSA-OAEP label the controller expects for ``scope``."""
    if scope == CLUSTER_WIDE:
        return b""
    if scope == NAMESPACE_WIDE:
        return namespace.encode("utf-8")
    return ("%s/%s" % (namespace, name)).encode("utf-8")


def secret_values(data=None, string_data=None):
    """Merge ``data`` (base64 strings) and ``string_data`` (text) into ``{key: bytes}``."""
    values = {}
    for key, value in (data or {}).items():
        key = str(key)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if not isinstance(value, str):
            raise SealingError(
                "data key %s holds a %s, not a base64 string: base64-encode it (b64encode filter) or put it "
                "under string_data" % (_shown(key), _type_name(value))
            )
        try:
            values[key] = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise SealingError(
                "data key %s is not valid base64: encode it with the b64encode filter, or put the plain "
                "text under string_data" % _shown(key)
            ) from None
    for key, value in (string_data or {}).items():
        key = str(key)
        if key in values:
            raise SealingError(
                "key %s is given in both data and string_data: keep it in one of them" % _shown(key)
            )
        if isinstance(value, bytes):
            values[key] = value
        elif isinstance(value, str):
            values[key] = value.encode("utf-8")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key] = str(value).encode("utf-8")
        else:
            raise SealingError(
                "string_data key %s holds a %s, not text: quote it (or template it with | string)"
                % (_shown(key), _type_name(value))
            )
    return values


def _type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def key_problem(key):
    """Why ``key`` cannot be a Secret key (Kubernetes IsConfigMapKey), or None."""
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        return "longer than %d characters" % MAX_KEY_LENGTH
    if not _KEY_RE.match(key):
        return "only letters, digits, '-', '_' and '.' are allowed"
    if key in (".", "..") or key.startswith(".."):
        return "must not be '.' or '..' or start with '..'"
    return None


def _check_strings(option, mapping):
    for key, value in (mapping or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SealingError("%s must map strings to strings (entry %s): quote the value" % (option, _shown(key)))


def validate(name, namespace, scope, secret_type, values, labels=None, annotations=None):
    """Refuse what Kubernetes or the controller would refuse; every message names the fix."""
    if not name or len(name) > 253 or not _SUBDOMAIN_RE.match(name):
        raise SealingError(
            "name %s is not a valid Secret name: lower-case letters, digits, '-' and '.', at most 253 "
            "characters, starting and ending with a letter or digit" % _shown(name)
        )
    if not namespace or len(namespace) > 63 or not _LABEL_RE.match(namespace):
        raise SealingError(
            "namespace %s is not a valid namespace name: lower-case letters, digits and '-', at most 63 "
            "characters" % _shown(namespace)
        )
    if scope not in SCOPES:
        raise SealingError("scope %s is unknown: use one of %s" % (_shown(scope), ", ".join(SCOPES)))
    if not values:
        raise SealingError("the Secret %s/%s has no keys: give data or string_data" % (namespace, name))
    bad = ["%s (%s)" % (_shown(key), problem) for key, problem in
           ((key, key_problem(key)) for key in sorted(values)) if problem]
    if bad:
        raise SealingError(
            "invalid Secret key name%s: %s: rename %s (Kubernetes Secret keys match [-._a-zA-Z0-9]+)"
            % ("s" if len(bad) > 1 else "", "; ".join(bad), "them" if len(bad) > 1 else "it")
        )
    total = sum(len(value) for value in values.values())
    if total > MAX_SECRET_SIZE:
        raise SealingError(
            "the values of %s/%s total %d bytes, over Kubernetes' limit of %d bytes (1 MiB) per Secret: "
            "split them into several Secrets" % (namespace, name, total, MAX_SECRET_SIZE)
        )
    _check_strings("labels", labels)
    _check_strings("annotations", annotations)
    for annotation in list(SCOPE_ANNOTATIONS.values()) + [DIGEST_ANNOTATION]:
        if annotation in (annotations or {}):
            raise SealingError(
                "annotation %s is managed by the module: set the scope with the scope option and remove "
                "the annotation" % annotation
            )
    if not secret_type or not isinstance(secret_type, str):
        raise SealingError("type must be a non-empty string such as Opaque")
    rule = _TYPE_KEYS.get(secret_type)
    if rule:
        mode, required = rule
        present = [key for key in required if key in values]
        if (mode == "all" and len(present) != len(required)) or (mode == "any" and not present):
            raise SealingError(
                "a Secret of type %s needs %s key%s %s: add %s or change the type"
                % (secret_type, "all of the" if mode == "all" else "one of the", "s" if len(required) > 1 else "",
                   ", ".join(required), "them" if len(required) > 1 else "it")
            )
    if secret_type == "kubernetes.io/dockerconfigjson":
        _check_json(values[".dockerconfigjson"], ".dockerconfigjson")
    if secret_type == _SERVICE_ACCOUNT_TOKEN and not (annotations or {}).get("kubernetes.io/service-account.name"):
        raise SealingError(
            "a Secret of type %s needs the annotation kubernetes.io/service-account.name" % _SERVICE_ACCOUNT_TOKEN
        )


def _check_json(value, key):
    try:
        json.loads(value.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SealingError("key %s must hold valid JSON (a docker config): fix its value" % key) from None


# ---------------------------------------------------------------------------------------------
# Digest
# ---------------------------------------------------------------------------------------------
def keyed_digest(digest_key, name, namespace, scope, secret_type, certificate_sha256, values):
    """HMAC-SHA256 with ``digest_key`` over a canonical encoding of everything that is sealed."""
    if digest_key is None:
        return None
    if not isinstance(digest_key, str) or len(digest_key) < DIGEST_KEY_MIN_LENGTH:
        raise SealingError(
            "digest_key is shorter than %d characters: use a long random string from the vault "
            "(e.g. openssl rand -hex 32)" % DIGEST_KEY_MIN_LENGTH
        )
    canonical = json.dumps(
        {
            "format": 1,
            "name": name,
            "namespace": namespace,
            "scope": scope,
            "type": secret_type,
            "certificate_sha256": certificate_sha256,
            "data": {key: base64.b64encode(values[key]).decode("ascii") for key in values},
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    return DIGEST_PREFIX + hmac.new(digest_key.encode("utf-8"), canonical, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------
# Sealing
# ---------------------------------------------------------------------------------------------
def hybrid_encrypt(public_key, plaintext, label):
    """Seal ``plaintext`` exactly as the controller's HybridDecrypt expects it."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    rsa_part = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None),
    )
    return struct.pack(">H", len(rsa_part)) + rsa_part + AESGCM(session_key).encrypt(GCM_NONCE, plaintext, None)


def seal_values(certificate, values, label):
    """``{key: base64(sealed value)}`` for every key, sorted."""
    return {
        key: base64.b64encode(hybrid_encrypt(certificate.public_key, values[key], label)).decode("ascii")
        for key in sorted(values)
    }


def scope_annotations(scope):
    annotation = SCOPE_ANNOTATIONS.get(scope)
    return {annotation: "true"} if annotation else {}


def scope_of(obj):
    """The scope an existing SealedSecret is sealed for, from its own annotations (as the controller)."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    if annotations.get(SCOPE_ANNOTATIONS[CLUSTER_WIDE]) == "true":
        return CLUSTER_WIDE
    if annotations.get(SCOPE_ANNOTATIONS[NAMESPACE_WIDE]) == "true":
        return NAMESPACE_WIDE
    return STRICT


def build_manifest(name, namespace, scope, secret_type, encrypted_data, digest=None, labels=None,
                   annotations=None):
    """The SealedSecret object, keys in a stable order (like kubeseal's output)."""
    scope_ann = scope_annotations(scope)
    metadata = {"name": name, "namespace": namespace}
    own_annotations = dict(scope_ann)
    if digest:
        own_annotations[DIGEST_ANNOTATION] = digest
    if own_annotations:
        metadata["annotations"] = dict(sorted(own_annotations.items()))
    template_metadata = {"name": name, "namespace": namespace}
    if labels:
        template_metadata["labels"] = dict(sorted(labels.items()))
    template_annotations = dict(annotations or {}, **scope_ann)
    if template_annotations:
        template_metadata["annotations"] = dict(sorted(template_annotations.items()))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "encryptedData": dict(sorted(encrypted_data.items())),
            "template": {"metadata": template_metadata, "type": secret_type},
        },
    }


class SealRequest(object):
    """One Secret to seal: validated on construction."""

    def __init__(self, name, namespace, certificate, data=None, string_data=None, scope=STRICT,
                 secret_type="Opaque", labels=None, annotations=None, digest_key=None):
        self.name = name
        self.namespace = namespace
        self.scope = scope
        self.type = secret_type
        self.labels = dict(labels or {})
        self.annotations = dict(annotations or {})
        self.values = secret_values(data, string_data)
        validate(name, namespace, scope, secret_type, self.values, self.labels, self.annotations)
        self.certificate = certificate
        self.digest = keyed_digest(digest_key, name, namespace, scope, secret_type, certificate.sha256, self.values)

    @property
    def label(self):
        return encryption_label(self.scope, self.namespace, self.name)

    def reusable(self, existing):
        """``encryptedData`` of ``existing`` when it was sealed from this very input, else None."""
        if not self.digest or not isinstance(existing, dict):
            return None
        annotations = (existing.get("metadata") or {}).get("annotations") or {}
        recorded = annotations.get(DIGEST_ANNOTATION)
        if not isinstance(recorded, str) or not hmac.compare_digest(recorded, self.digest):
            return None
        if scope_of(existing) != self.scope:
            return None
        encrypted = (existing.get("spec") or {}).get("encryptedData")
        if not isinstance(encrypted, dict) or sorted(encrypted) != sorted(self.values):
            return None
        return dict(encrypted)

    def manifest(self, *existing):
        """``(manifest, resealed)``: reuse the first existing object sealed from the same input."""
        for obj in existing:
            encrypted = self.reusable(obj)
            if encrypted is not None:
                return self._manifest(encrypted), False
        return self._manifest(seal_values(self.certificate, self.values, self.label)), True

    def _manifest(self, encrypted):
        return build_manifest(self.name, self.namespace, self.scope, self.type, encrypted, self.digest,
                              self.labels, self.annotations)


def summary(obj):
    """What check mode and diff show of a SealedSecret: names and digests, never values."""
    if not isinstance(obj, dict):
        return {}
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    template_metadata = template.get("metadata") or {}
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "scope": scope_of(obj),
        "type": template.get("type"),
        "keys": sorted(spec.get("encryptedData") or {}),
        "digest": (metadata.get("annotations") or {}).get(DIGEST_ANNOTATION),
        "labels": template_metadata.get("labels") or {},
        "annotations": template_metadata.get("annotations") or {},
    }


def masked_by_no_log(no_log_values, *texts):
    """True when Ansible's masking of ``no_log_values`` would alter one of ``texts`` in the result."""
    return any(value and value in text for value in no_log_values for text in texts)


# ---------------------------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------------------------
def strip_server_fields(metadata):
    """A copy of ``metadata`` without what the API server fills in (for backups and conversions)."""
    cleaned = {key: value for key, value in (metadata or {}).items() if key not in _SERVER_FIELDS}
    annotations = {key: value for key, value in (cleaned.get("annotations") or {}).items() if key not in _LAST_APPLIED}
    if annotations:
        cleaned["annotations"] = annotations
    else:
        cleaned.pop("annotations", None)
    return cleaned

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate sync for Traefik's file provider: plain Python, unit-testable, no Ansible imports.

Flow of one :func:`run` (shared by the ``traefik_cert_sync`` module and the host entry point of
the ``cert_rotation`` role):

1. take the lock, read what is installed (``certificates.yml`` written by a previous run);
2. read the source (Kubernetes ``kubernetes.io/tls`` secrets or ``<name>.crt``/``<name>.key``
   pairs in a directory) and inspect every pair (PEM, key match, chain order, validity window);
   the Sealed Secrets controller's key and CA certificates are never installed;
3. plan: which content-addressed files to write, the new ``certificates.yml``, what to prune
   (refused when the source lost too many of the installed certificates at once);
4. write new cert/key files, then ``certificates.yml`` (atomic), then prune unreferenced files;
5. optionally write node-exporter textfile metrics describing what Traefik now serves. A run that
   cannot even start still writes ``failed 1`` (:func:`record_failure`), so no failure is silent.

A refused certificate never replaces anything: its previously installed files stay referenced.
Nothing here ever puts key material in a message, a return value or a diff.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import traceback

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

try:
    import yaml

    HAS_YAML = True
    YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 500 entries in ms, not a second
except ImportError:  # pragma: no cover
    HAS_YAML = False

from ansible_collections.squaremcp.infra.plugins.module_utils import io as fileio
from ansible_collections.squaremcp.infra.plugins.module_utils import k8s

UTC = datetime.timezone.utc
TLS_SECRET_TYPE = "kubernetes.io/tls"
SECONDS_PER_DAY = 86400
LOCK_NAME = ".traefik_cert_sync.lock"
DIGEST_LENGTH = 16
CERT_MODE = "0644"
KEY_MODE = "0600"
CONFIG_MODE = "0644"
DIR_MODE = 0o750
CONFIG_HEADER = (
    "# Managed by squaremcp.infra.traefik_cert_sync: written on every change, do not edit.\n"
    "# Each entry: <namespace>/<name>, leaf SHA-256 fingerprint, notAfter, domains.\n"
)
# <key>_<digest>.crt|key where <key> is "<namespace>_<name>" (Kubernetes) or "<name>" (directory).
MANAGED_FILE = re.compile(r"^(?P<key>[A-Za-z0-9_][A-Za-z0-9._-]*)_(?P<digest>[0-9a-f]{%d})\.(?P<ext>crt|key)$" % DIGEST_LENGTH)
# Temporary files io.py leaves behind when a run is killed between staging and renaming.
STALE_TEMP = re.compile(r"^\.[A-Za-z0-9_][A-Za-z0-9._-]*_[0-9a-f]{%d}\.(crt|key)\..+\.tmp$" % DIGEST_LENGTH)
DIRECTORY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
COMMENT_SAFE = re.compile(r"[^A-Za-z0-9.*_:/ -]")
ACTIONS = ("added", "updated", "unchanged", "skipped", "refused", "removed", "kept")
ON_EXPIRING = ("fail", "warn", "skip")
# The Sealed Secrets controller keeps its private sealing key as a kubernetes.io/tls Secret with this label.
SEALED_SECRETS_KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


class CertError(Exception):
    """A certificate/key pair cannot be installed; the message is the reason (no key material)."""


class CertSkipped(CertError):
    """A pair that must never be served by Traefik (a CA's key); reported as skipped, never installed."""


class SyncError(Exception):
    """The run as a whole cannot proceed (source unreachable, bad options, unreadable state)."""


# --------------------------------------------------------------------------------------------
# Parsing and inspection


def _now(now=None):
    return now if now is not None else datetime.datetime.now(UTC)


def _utc(cert, attr):
    value = getattr(cert, attr + "_utc", None)
    if value is None:  # cryptography < 42
        value = getattr(cert, attr).replace(tzinfo=UTC)
    return value


def not_before(cert):
    """``notBefore`` of an ``x509.Certificate`` as an aware UTC datetime, on every cryptography version."""
    return _utc(cert, "not_valid_before")


def not_after(cert):
    """``notAfter`` of an ``x509.Certificate`` as an aware UTC datetime, on every cryptography version.

    With :func:`load_chain` (PEM text -> certificates, :class:`CertError` with a reason otherwise) this is
    all other module_utils (e.g. sealing.py) need to read a PEM certificate and its expiry.
    """
    return _utc(cert, "not_valid_after")


def _iso(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_pem(data, what="tls.crt"):
    """Return ``[(label, der_bytes)]`` for every PEM block of ``data``; refuse anything else."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    blocks = []
    rest = data
    for match in PEM_BLOCK.finditer(data):
        try:
            der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            raise CertError("%s holds a %s block that is not valid base64: re-export it" % (what, match.group(1).decode()))
        blocks.append((match.group(1).decode(), der))
        rest = rest.replace(match.group(0), b"", 1)
    if not blocks:
        raise CertError("%s holds no PEM block (garbage or empty): store PEM text (-----BEGIN ...-----)" % what)
    if rest.strip():
        raise CertError("%s holds text outside its PEM blocks: store only PEM blocks" % what)
    return blocks


def load_chain(data, what="tls.crt"):
    """Parse a PEM chain (leaf first) into ``x509.Certificate`` objects."""
    chain = []
    for index, (label, der) in enumerate(split_pem(data, what), start=1):
        if label != "CERTIFICATE":
            raise CertError("%s block %d is a %s, not a CERTIFICATE: it must hold only certificates" % (what, index, label))
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise CertError("%s certificate %d cannot be parsed (%s): re-issue the certificate" % (what, index, exc))
    return chain


def load_key(data, what="tls.key"):
    """Parse an unencrypted PEM private key (PKCS#1, SEC1 or PKCS#8)."""
    blocks = split_pem(data, what)
    if len(blocks) != 1 or "PRIVATE KEY" not in blocks[0][0]:
        raise CertError("%s must hold exactly one PEM private key block: store the key only" % what)
    if "ENCRYPTED" in blocks[0][0]:
        raise CertError("%s is encrypted: Traefik needs an unencrypted key" % what)
    pem = PEM_BLOCK.search(data if isinstance(data, bytes) else data.encode()).group(0)
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CertError("%s is encrypted: Traefik needs an unencrypted key" % what)
    except (ValueError, UnsupportedAlgorithm):
        # The library's message can quote parts of the input: keep it out of the reason.
        raise CertError("%s is not a readable private key: re-export the key in PEM" % what)


def _public_der(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert, private_key):
    """True when ``private_key`` is the key of ``cert`` (RSA, ECDSA, EdDSA)."""
    return _public_der(cert.public_key()) == _public_der(private_key.public_key())


def issued_by(cert, issuer):
    """True when ``issuer``'s subject is ``cert``'s issuer and its key verifies ``cert``'s signature.

    Signature checks cover RSA PKCS#1 v1.5 and ECDSA on every ``cryptography`` version, and every
    algorithm the library supports from version 40 on.
    """
    if cert.issuer != issuer.subject:
        return False
    verify = getattr(cert, "verify_directly_issued_by", None)
    if verify is not None:
        try:
            verify(issuer)
            return True
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
    public_key = issuer.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        # Other key types on old libraries: the name check above is all we can do.
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _label(cert):
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return "CN=%s" % names[0].value if names else cert.subject.rfc4514_string() or "(empty subject)"


def check_chain(chain, private_key, what="tls.crt"):
    """Refuse a chain whose first certificate is not the key's leaf or that is not leaf-first."""
    if not key_matches(chain[0], private_key):
        for index, cert in enumerate(chain[1:], start=2):
            if key_matches(cert, private_key):
                raise CertError(
                    "the chain is not leaf-first: the certificate matching the key (%s) is number %d of %d; "
                    "order %s leaf first, then each issuer" % (_label(cert), index, len(chain), what)
                )
        raise CertError(
            "the private key does not match the certificate (%s): the secret mixes two issuances; re-issue it "
            "(for cert-manager: delete the secret so it is issued again)" % _label(chain[0])
        )
    for index in range(len(chain) - 1):
        if not issued_by(chain[index], chain[index + 1]):
            raise CertError(
                "the chain is not in order: certificate %d (%s) is not issued by certificate %d (%s); order %s "
                "leaf first, then each issuer" % (index + 1, _label(chain[index]), index + 2, _label(chain[index + 1]), what)
            )


def fingerprint(cert):
    """SHA-256 fingerprint as colon-separated lowercase hex (as community.crypto shows it)."""
    return ":".join("%02x" % byte for byte in bytearray(cert.fingerprint(hashes.SHA256())))


def domains_of(cert):
    """DNS names of the subjectAltName extension, or the common name when there is none."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
        if names:
            return list(names)
    except x509.ExtensionNotFound:
        pass
    return [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _san_strings(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = ["DNS:%s" % name for name in san.get_values_for_type(x509.DNSName)]
    out += ["IP:%s" % addr for addr in san.get_values_for_type(x509.IPAddress)]
    out += ["email:%s" % mail for mail in san.get_values_for_type(x509.RFC822Name)]
    out += ["URI:%s" % uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier)]
    return out


def days_left(not_after, now=None):
    """Whole days until ``not_after``, truncated toward zero (negative once a full day expired)."""
    return int((not_after - _now(now)).total_seconds() / SECONDS_PER_DAY)


def _key_type(public_key):
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    return type(public_key).__name__.replace("PublicKey", "").lstrip("_") or "unknown"


def describe(cert, now=None):
    """Facts about one certificate (what the ``cert_info`` filter returns)."""
    expires = not_after(cert)
    left = days_left(expires, now)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "common_name": next(iter(a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)), None),
        "domains": domains_of(cert),
        "subject_alt_name": _san_strings(cert),
        "not_before": _iso(not_before(cert)),
        "not_after": _iso(expires),
        "not_after_timestamp": int(expires.timestamp()),
        "days_left": left,
        "expired": _now(now) >= expires,
        "fingerprint": fingerprint(cert),
        "serial_number": cert.serial_number,
        "public_key_type": _key_type(cert.public_key()),
        "self_signed": cert.issuer == cert.subject,
    }


def cert_info(pem, now=None):
    """Describe the first certificate of a PEM text (the leaf) plus the length of the chain."""
    chain = load_chain(pem, "the input")
    info = describe(chain[0], now)
    info["chain_length"] = len(chain)
    return info


class Inspected(object):
    """A pair that passed every check, normalised for writing (PEM re-encoded, key as PKCS#8)."""

    __slots__ = ("info", "cert_bytes", "key_bytes", "digest")

    def __init__(self, info, cert_bytes, key_bytes):
        self.info = info
        self.cert_bytes = cert_bytes
        self.key_bytes = key_bytes
        # File names follow the content Traefik loads, so a changed chain is a changed name.
        self.digest = hashlib.sha256(cert_bytes).hexdigest()[:DIGEST_LENGTH]


def inspect_pair(cert_pem, key_pem, now=None, labels=("tls.crt", "tls.key")):
    """Run every check on one pair; return :class:`Inspected` or raise :class:`CertError`.

    Expiring (but still valid) certificates pass: what to do with them is the plan's decision.
    ``labels`` name the two inputs in messages (secret keys or file names).
    """
    chain = load_chain(cert_pem, labels[0])
    private_key = load_key(key_pem, labels[1])
    if _is_ca(chain[0]) and key_matches(chain[0], private_key):
        raise CertSkipped(
            "a CA certificate (%s, basicConstraints CA:TRUE) with its key, e.g. a cert-manager CA or webhook CA: "
            "never served by Traefik; narrow namespaces/label_selector/names to exclude it" % _label(chain[0]))
    check_chain(chain, private_key, labels[0])
    info = describe(chain[0], now)
    current = _now(now)
    if info["expired"]:
        raise CertError(
            "expired on %s (%d days ago): renew it (for cert-manager: check the Certificate's status and the issuer)"
            % (info["not_after"], -info["days_left"])
        )
    if not_before(chain[0]) > current:
        raise CertError("not valid before %s: fix the host clock or wait for that date" % info["not_before"])
    cert_bytes = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)
    key_bytes = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Inspected(info, cert_bytes, key_bytes)


# --------------------------------------------------------------------------------------------
# Sources


class SourceItem(object):
    """One certificate/key pair as the source holds it, the reason it cannot be read (``problem``:
    refused) or the reason it must never be installed (``excluded``: skipped, key not even decoded)."""

    __slots__ = ("namespace", "name", "cert_pem", "key_pem", "problem", "labels", "excluded")

    def __init__(self, namespace, name, cert_pem=None, key_pem=None, problem=None, labels=("tls.crt", "tls.key"),
                 excluded=None):
        self.namespace = namespace or ""
        self.name = name
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.problem = problem
        self.labels = labels
        self.excluded = excluded

    @property
    def ident(self):
        return ident_of(self.namespace, self.name)

    @property
    def key(self):
        return file_key(self.namespace, self.name)


def ident_of(namespace, name):
    return "%s/%s" % (namespace, name) if namespace else name


def file_key(namespace, name):
    return "%s_%s" % (namespace, name) if namespace else name


def _wanted(names):
    """Split ``names`` into bare names and ``namespace/name`` pairs."""
    bare, qualified = set(), set()
    for entry in names or []:
        (qualified if "/" in entry else bare).add(entry)
    return bare, qualified


def _select(items, names, where):
    """Keep items listed in ``names``; every name that matched nothing becomes a refused item."""
    if not names:
        return items
    bare, qualified = _wanted(names)
    kept = [item for item in items if item.name in bare or item.ident in qualified]
    found = set(item.name for item in kept) | set(item.ident for item in kept)
    for entry in names:
        if entry not in found:
            namespace, _sep, name = entry.rpartition("/")
            kept.append(SourceItem(namespace, name, problem="not found %s: create it or remove it from names" % where))
    return kept


def directory_source(source_dir, names=None):
    """``<name>.crt`` + ``<name>.key`` pairs in ``source_dir`` (flat, no namespaces)."""
    if not os.path.isdir(source_dir):
        raise SyncError("source_dir %s is not a directory: create it or fix the path" % source_dir)
    try:
        entries = sorted(os.listdir(source_dir))
    except OSError as exc:
        raise SyncError("cannot list source_dir %s: %s" % (source_dir, exc.strerror or exc))
    stems = {}
    for entry in entries:
        stem, ext = os.path.splitext(entry)
        if ext in (".crt", ".key") and os.path.isfile(os.path.join(source_dir, entry)):
            stems.setdefault(stem, set()).add(ext)
    items = []
    for stem in sorted(stems):
        if not DIRECTORY_NAME.match(stem):
            items.append(SourceItem("", stem, problem="file name %r has characters outside [A-Za-z0-9._-]: rename the pair" % stem))
            continue
        missing = {".crt", ".key"} - stems[stem]
        if missing:
            items.append(SourceItem("", stem, problem="%s%s is missing: put the certificate and its key side by side" % (stem, missing.pop())))
            continue
        try:
            items.append(SourceItem(
                "", stem,
                cert_pem=_read(os.path.join(source_dir, stem + ".crt")),
                key_pem=_read(os.path.join(source_dir, stem + ".key")),
                labels=(stem + ".crt", stem + ".key"),
            ))
        except fileio.FileError as exc:
            items.append(SourceItem("", stem, problem=str(exc)))
    return _select(items, names, "in %s" % source_dir)


def _read(path):
    data = fileio.read_bytes(path)
    if data is None:
        raise fileio.FileError("%s vanished while reading it" % path)
    return data


def _secret_item(secret):
    meta = secret.metadata
    if SEALED_SECRETS_KEY_LABEL in (meta.labels or {}):
        return SourceItem(meta.namespace, meta.name, excluded=(
            "the Sealed Secrets controller's private sealing key (label %s): it never leaves the cluster"
            % SEALED_SECRETS_KEY_LABEL))
    data = secret.data or {}
    missing = [field for field in ("tls.crt", "tls.key") if not data.get(field)]
    if missing:
        return SourceItem(meta.namespace, meta.name, problem="the secret has no %s: it is not a usable TLS secret" % " or ".join(missing))
    try:
        return SourceItem(
            meta.namespace, meta.name,
            cert_pem=base64.b64decode(data["tls.crt"], validate=True),
            key_pem=base64.b64decode(data["tls.key"], validate=True),
        )
    except (binascii.Error, ValueError):
        return SourceItem(meta.namespace, meta.name, problem="the secret's data is not valid base64: recreate it")


def kubernetes_source(api_client, namespaces=None, label_selector=None, names=None, page_size=250, request_timeout=30):
    """``kubernetes.io/tls`` secrets of ``namespaces`` (all when empty), read page by page.

    Any API failure (even on the last page) aborts the whole read: a partial list must never
    look like deleted secrets.
    """
    core = k8s.kubernetes.client.CoreV1Api(api_client)
    options = {"field_selector": "type=%s" % TLS_SECRET_TYPE, "limit": page_size, "_request_timeout": request_timeout}
    if label_selector:
        options["label_selector"] = label_selector
    secrets = []
    try:
        if namespaces:
            for namespace in namespaces:
                secrets += k8s.list_all("listing TLS secrets in namespace %s" % namespace,
                                        core.list_namespaced_secret, namespace, **options)
        else:
            secrets = k8s.list_all("listing TLS secrets in all namespaces", core.list_secret_for_all_namespaces, **options)
    except k8s.KubeError as exc:
        raise SyncError("%s; nothing was changed" % exc)
    items = [_secret_item(secret) for secret in secrets if secret.type == TLS_SECRET_TYPE]
    where = "in namespace%s %s" % ("s" if len(namespaces or []) > 1 else "", ", ".join(namespaces)) if namespaces else "in any namespace"
    return _select(sorted(items, key=lambda item: item.key), names, where)


def source_reader(params):
    """A function reading the source the options name (called by :func:`run` inside the lock)."""
    if params.get("source") == "directory":
        return lambda: directory_source(params["source_dir"], params.get("names"))

    def read_kubernetes():
        if not k8s.HAS_KUBERNETES:
            raise SyncError("the Python library kubernetes is missing: install it (Debian: python3-kubernetes)")
        try:
            client = k8s.api_client(params.get("kubeconfig"), params.get("context"))
        except k8s.KubeError as exc:
            raise SyncError("%s; nothing was changed" % exc)
        return kubernetes_source(client, params.get("namespaces"), params.get("label_selector"), params.get("names"),
                                 params.get("page_size") or 250, params.get("request_timeout") or 30)

    return read_kubernetes


# --------------------------------------------------------------------------------------------
# Installed state


class Installed(object):
    """What the current ``certificates.yml`` references: ``{key: {"cert_file", "key_file", "digest"}}``."""

    def __init__(self, text=None, entries=None, default_key=None, foreign=0):
        self.text = text
        self.entries = entries or {}
        self.default_key = default_key
        self.foreign = foreign


def read_installed(config_path):
    """Parse the module's own ``certificates.yml``; refuse to guess when it is unreadable."""
    try:
        raw = fileio.read_bytes(config_path)
    except fileio.FileError as exc:
        raise SyncError(str(exc))
    if raw is None:
        return Installed()
    return parse_installed(raw.decode("utf-8", "replace"), config_path)


def parse_installed(text, config_path="certificates.yml"):
    """The :class:`Installed` state described by the text of a ``certificates.yml``."""
    try:
        data = yaml.load(text, Loader=YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise SyncError(
            "%s is not valid YAML (%s): it is written only by this module; restore it from a backup or delete it "
            "(refused certificates then lose their previous files)" % (config_path, str(exc).splitlines()[0])
        )
    tls = data.get("tls") if isinstance(data, dict) else None
    listed = tls.get("certificates") if isinstance(tls, dict) else None
    if not isinstance(listed, list):
        raise SyncError("%s has no tls.certificates list: it is written only by this module; delete it to rebuild it" % config_path)
    entries, foreign = {}, 0
    for item in listed:
        parsed = _managed(item.get("certFile")) if isinstance(item, dict) else None
        key_parsed = _managed(item.get("keyFile")) if isinstance(item, dict) else None
        if parsed and key_parsed and parsed[2] == "crt" and key_parsed == (parsed[0], parsed[1], "key"):
            entries[parsed[0]] = {"cert_file": parsed[0] + "_" + parsed[1] + ".crt",
                                  "key_file": parsed[0] + "_" + parsed[1] + ".key", "digest": parsed[1]}
        else:
            foreign += 1
    default = _dig(tls, "stores", "default", "defaultCertificate")
    parsed = _managed(default.get("certFile")) if isinstance(default, dict) else None
    return Installed(text, entries, parsed[0] if parsed else None, foreign)


def _dig(data, *path):
    for step in path:
        if not isinstance(data, dict):
            return None
        data = data.get(step)
    return data


def _managed(path):
    """``(key, digest, ext)`` of a file name this module writes, else ``None``."""
    if not isinstance(path, str):
        return None
    match = MANAGED_FILE.match(os.path.basename(path))
    return (match.group("key"), match.group("digest"), match.group("ext")) if match else None


def installed_info(dest_dir, entry, now=None):
    """Describe the installed certificate file of ``entry`` (``None`` when it is gone or broken)."""
    try:
        data = fileio.read_bytes(os.path.join(dest_dir, entry["cert_file"]))
        return describe(load_chain(data)[0], now) if data else None
    except (fileio.FileError, CertError):
        return None


def split_key(key, namespaced):
    """``(namespace, name)`` of a file key; Kubernetes namespaces never contain ``_``."""
    if namespaced and "_" in key:
        namespace, name = key.split("_", 1)
        return namespace, name
    return "", key


# --------------------------------------------------------------------------------------------
# Options and plan


class Options(object):
    """The module's options with defaults resolved (same names as the module arguments)."""

    def __init__(self, params):
        self.source = params.get("source") or "kubernetes"
        self.namespaces = list(params.get("namespaces") or [])
        self.label_selector = params.get("label_selector") or None
        self.names = list(params.get("names") or [])
        self.all_namespaces = bool(params.get("all_namespaces"))
        self.source_dir = params.get("source_dir") or None
        self.dest_dir = os.path.abspath(params["dest_dir"])
        config_path = params.get("config_path") or os.path.join("dynamic", "certificates.yml")
        # Relative to the Traefik config directory, the parent of dest_dir (<traefik>/certs).
        self.config_path = os.path.join(os.path.dirname(self.dest_dir), config_path)
        self.container_cert_dir = (params.get("container_cert_dir") or self.dest_dir).rstrip("/") or "/"
        self.min_days_valid = int(params.get("min_days_valid", 14) if params.get("min_days_valid") is not None else 14)
        self.on_expiring = params.get("on_expiring") or "fail"
        self.prune = params.get("prune", True) is not False
        self.default_certificate = params.get("default_certificate") or None
        self.owner = params.get("owner")
        self.group = params.get("group")
        self.metrics_path = params.get("metrics_path") or None
        self.report_path = params.get("report_path") or None
        self.lock_file = params.get("lock_file") or os.path.join(self.dest_dir, LOCK_NAME)
        self.lock_timeout = float(params.get("lock_timeout") if params.get("lock_timeout") is not None else 60)
        self.allow_empty = bool(params.get("allow_empty"))
        ratio = params.get("max_prune_ratio")
        self.max_prune_ratio = float(ratio) if ratio is not None else 0.5
        if self.on_expiring not in ON_EXPIRING:
            raise SyncError("on_expiring must be one of %s, not %r" % (", ".join(ON_EXPIRING), self.on_expiring))
        if self.min_days_valid < 0:
            raise SyncError("min_days_valid must be 0 or more, not %d" % self.min_days_valid)
        if not 0 <= self.max_prune_ratio <= 1:
            raise SyncError("max_prune_ratio must be between 0 and 1, not %s" % ratio)
        if self.source == "kubernetes":
            self._check_scope()

    def _check_scope(self):
        """A run reads what it was pointed at, never the whole cluster by accident."""
        if self.all_namespaces and self.namespaces:
            raise SyncError("all_namespaces=true and namespaces exclude each other: keep one of them")
        if not (self.all_namespaces or self.namespaces or self.label_selector or self.names):
            raise SyncError(
                "no selection: set namespaces (e.g. [edge]), label_selector or names; or set all_namespaces=true to read "
                "every TLS secret of the cluster (Sealed Secrets keys and CA certificates are skipped even then)")

    def selection(self):
        """What the source was asked for, in the words of the options (for messages)."""
        if self.source == "directory":
            return "source_dir %s" % self.source_dir
        parts = ["namespaces %s" % ", ".join(self.namespaces) if self.namespaces else "all namespaces"]
        if self.label_selector:
            parts.append("label_selector %s" % self.label_selector)
        if self.names:
            parts.append("names %s" % ", ".join(self.names))
        return ", ".join(parts)

    @property
    def namespaced(self):
        return self.source == "kubernetes"


class Plan(object):
    """Everything one run decided; nothing written yet."""

    def __init__(self):
        self.results = []        # one dict per certificate (the module's ``certificates`` return)
        self.served = {}         # key -> {"files": {...}, "info": {...}, "namespace", "name"}
        self.files = []          # io.write_files specs for new/changed cert and key files
        self.config_text = ""
        self.default_key = None
        self.prune = []          # paths no longer referenced
        self.warnings = []
        self.excluded = set()    # keys never installed whatever they hold (sealing key, CA)


def _entry_result(namespace, name, action, reason=None, info=None, files=None, installed=None):
    info = info or {}
    return {
        "name": name,
        "namespace": namespace,
        "domains": info.get("domains", []),
        "not_after": info.get("not_after"),
        "days_left": info.get("days_left"),
        "fingerprint": info.get("fingerprint"),
        "action": action,
        "reason": reason,
        "cert_file": (files or {}).get("cert_file"),
        "key_file": (files or {}).get("key_file"),
        "installed": installed,
    }


def _summary(info):
    return {key: info[key] for key in ("fingerprint", "not_after", "days_left")} if info else None


def _source_info(item, now):
    """Best-effort facts about a refused item's leaf (for the report): ``None`` when unreadable."""
    try:
        chain = load_chain(item.cert_pem, item.labels[0]) if item.cert_pem else []
    except CertError:
        return None
    leaves = [cert for cert in chain if not _is_ca(cert)]
    return describe((leaves or chain)[0], now) if chain else None


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def make_plan(items, installed, options, now=None):
    """Decide per certificate; build the file list, the new config and the prune list."""
    plan = Plan()
    seen = set()
    for item in sorted(items, key=lambda i: i.key):
        seen.add(item.key)
        previous = installed.entries.get(item.key)
        inspected, reason = None, item.problem
        if item.excluded:
            _exclude(plan, item, item.excluded, previous, None)
            continue
        if reason is None:
            try:
                inspected = inspect_pair(item.cert_pem, item.key_pem, now, item.labels)
            except CertSkipped as exc:
                _exclude(plan, item, str(exc), previous, _source_info(item, now))
                continue
            except CertError as exc:
                reason = str(exc)
        if inspected is not None and inspected.info["days_left"] < options.min_days_valid:
            note = "expires in %d days (%s), less than min_days_valid %d: renew it" % (
                inspected.info["days_left"], inspected.info["not_after"], options.min_days_valid)
            if options.on_expiring == "skip":
                _keep_previous(plan, options, item.namespace, item.name, item.key, previous, "skipped", note,
                               inspected.info, now)
                continue
            plan.warnings.append("%s %s" % (item.ident, note))
            _install(plan, options, item, inspected, previous, note)
            continue
        if inspected is not None:
            _install(plan, options, item, inspected, previous, None)
            continue
        _keep_previous(plan, options, item.namespace, item.name, item.key, previous, "refused", reason,
                       _source_info(item, now), now)
    vanished = sorted(set(installed.entries) - seen)
    if options.prune and vanished:
        _check_prune(vanished, len(seen - plan.excluded), installed, options)
    for key in vanished:
        namespace, name = split_key(key, options.namespaced)
        if options.prune:
            plan.results.append(_entry_result(namespace, name, "removed", "no longer in the source (prune)"))
        else:
            _keep_previous(plan, options, namespace, name, key, installed.entries[key], "kept",
                           "no longer in the source; kept because prune is false", None, now)
    if installed.foreign:
        plan.warnings.append("%s had %d entries not written by this module: they were dropped" % (
            options.config_path, installed.foreign))
    plan.default_key = _default_key(plan, items, installed, options)
    plan.config_text = render_config(plan.served, options.container_cert_dir, plan.default_key)
    plan.prune = _unreferenced(options.dest_dir, plan.served)
    return plan


def _exclude(plan, item, reason, previous, info):
    """Never install ``item``; files an earlier version of this code installed for it are pruned."""
    if previous is not None:
        reason = "%s (its previously installed files are removed)" % reason
    plan.excluded.add(item.key)
    plan.results.append(_entry_result(item.namespace, item.name, "skipped", reason, info))


def _check_prune(vanished, usable, installed, options):
    """Refuse a run that would remove all (or too many) installed certificates at once.

    A typo in ``namespaces``, a wrong ``label_selector`` or an empty mount looks exactly like
    every secret being deleted; Traefik would then serve its default certificate everywhere.
    """
    names = ", ".join(ident_of(*split_key(key, options.namespaced)) for key in vanished[:10])
    names += ", ..." if len(vanished) > 10 else ""
    if not usable:
        if not options.allow_empty:
            raise SyncError(
                "the source (%s) returned no certificate while %d certificate(s) are installed (%s): refusing to remove them all; "
                "nothing was changed. Check the selection for a typo; if every certificate really is gone, run once "
                "with allow_empty=true" % (options.selection(), len(installed.entries), names))
        return
    if len(vanished) > options.max_prune_ratio * len(installed.entries):
        raise SyncError(
            "%d of the %d installed certificates are no longer in the source (%s): %s; removing more than "
            "max_prune_ratio %g of them at once is refused, nothing was changed. Check the selection; if they "
            "really are gone, run once with a higher max_prune_ratio (1 allows any)"
            % (len(vanished), len(installed.entries), options.selection(), names, options.max_prune_ratio))


def _install(plan, options, item, inspected, previous, note):
    files = {"cert_file": "%s_%s.crt" % (item.key, inspected.digest), "key_file": "%s_%s.key" % (item.key, inspected.digest)}
    if previous is None:
        action = "added"
    elif previous["digest"] == inspected.digest:
        action = "unchanged"
    else:
        action = "updated"
    common = {"owner": options.owner, "group": options.group}
    plan.files.append(dict(common, path=os.path.join(options.dest_dir, files["cert_file"]), content=inspected.cert_bytes, mode=CERT_MODE))
    plan.files.append(dict(common, path=os.path.join(options.dest_dir, files["key_file"]), content=inspected.key_bytes, mode=KEY_MODE))
    plan.served[item.key] = {"files": files, "info": inspected.info, "namespace": item.namespace, "name": item.name}
    plan.results.append(_entry_result(item.namespace, item.name, action, note, inspected.info, files))


def _keep_previous(plan, options, namespace, name, key, previous, action, reason, info, now):
    """Leave the previously installed version in place (when there is a usable one)."""
    installed = None
    if previous is not None:
        installed = installed_info(options.dest_dir, previous, now)
        if installed is not None and os.path.isfile(os.path.join(options.dest_dir, previous["key_file"])):
            plan.served[key] = {"files": previous, "info": installed, "namespace": namespace, "name": name}
            reason = "%s (the previous files stay in place)" % reason
        else:
            installed = None
            reason = "%s (the previously installed files are missing or unreadable: dropped)" % reason
    files = previous if installed is not None else None
    plan.results.append(_entry_result(namespace, name, action, reason, info, files, _summary(installed)))


def _default_key(plan, items, installed, options):
    wanted = options.default_certificate
    if not wanted:
        return None
    candidates = [key for key, entry in plan.served.items()
                  if wanted in (entry["name"], ident_of(entry["namespace"], entry["name"]))]
    if len(candidates) > 1:
        raise SyncError("default_certificate %s matches %s: use namespace/name" % (wanted, ", ".join(sorted(candidates))))
    if candidates:
        return candidates[0]
    if any(wanted in (item.name, item.ident) for item in items):
        return None  # refused and never installed: reported with the refusal
    raise SyncError("default_certificate %s is not among the synced certificates: fix the name (namespace/name) or the selection"
                    % wanted)


def _unreferenced(dest_dir, served):
    """Managed files (and stale temporary files) in ``dest_dir`` that the new config does not use."""
    referenced = set()
    for entry in served.values():
        referenced.update((entry["files"]["cert_file"], entry["files"]["key_file"]))
    try:
        names = os.listdir(dest_dir)
    except OSError:
        return []
    return sorted(os.path.join(dest_dir, name) for name in names
                  if name not in referenced and (MANAGED_FILE.match(name) or STALE_TEMP.match(name)))


# --------------------------------------------------------------------------------------------
# Rendering


def _comment(text):
    return COMMENT_SAFE.sub("?", text)


def render_config(served, container_cert_dir, default_key=None):
    """The ``tls`` section of Traefik's file provider, sorted by key so equal input gives equal bytes."""
    lines = [CONFIG_HEADER.rstrip("\n"), "tls:"]
    if not served:
        lines.append("  certificates: []")
    else:
        lines.append("  certificates:")
    for key in sorted(served):
        entry = served[key]
        info = entry["info"]
        lines.append("    # %s  sha256 %s  notAfter %s  %s" % (
            _comment(ident_of(entry["namespace"], entry["name"])), info["fingerprint"], info["not_after"],
            _comment(" ".join(info["domains"]))))
        lines.extend(_file_pair(container_cert_dir, entry["files"], "    - ", "      "))
    if default_key is not None:
        lines += ["  stores:", "    default:", "      defaultCertificate:"]
        lines.extend(_file_pair(container_cert_dir, served[default_key]["files"], "        ", "        "))
    return "\n".join(lines) + "\n"


def _file_pair(directory, files, first, rest):
    return [
        "%scertFile: %s" % (first, json.dumps(directory.rstrip("/") + "/" + files["cert_file"])),
        "%skeyFile: %s" % (rest, json.dumps(directory.rstrip("/") + "/" + files["key_file"])),
    ]


METRICS = (
    ("squaremcp_certificate_expiry_timestamp_seconds", "notAfter of the certificate Traefik serves, as a Unix timestamp."),
    ("squaremcp_certificate_sync_certificates", "Certificates referenced by Traefik's certificates.yml after the last sync."),
    ("squaremcp_certificate_sync_expiring", "Certificates expiring within min_days_valid that the last sync could not replace."),
    ("squaremcp_certificate_sync_refused", "Certificates the last sync refused (expired, wrong key, bad chain, missing ...)."),
    ("squaremcp_certificate_sync_min_valid_seconds", "The sync's min_days_valid threshold in seconds (alert below it)."),
    ("squaremcp_certificate_sync_failed", "1 when the last sync failed or refused or (on_expiring=fail) found expiring certificates, else 0."),
    ("squaremcp_certificate_sync_last_run_timestamp_seconds", "Unix time of the last sync run."),
    ("squaremcp_certificate_sync_last_success_timestamp_seconds", "Unix time of the last successful sync run."),
)
FAILED_METRIC = "squaremcp_certificate_sync_failed"
LAST_RUN_METRIC = "squaremcp_certificate_sync_last_run_timestamp_seconds"
LAST_SUCCESS = re.compile(r"^squaremcp_certificate_sync_last_success_timestamp_seconds (\S+)$", re.MULTILINE)
SAMPLE = re.compile(r"^(?P<name>squaremcp_certificate_[a-z_]+)(?P<labels>\{.*\})? (?P<value>\S+)$")


def _label_value(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels):
    return "{%s}" % ",".join('%s="%s"' % (key, _label_value(labels[key])) for key in sorted(labels))


def previous_last_success(metrics_text):
    match = LAST_SUCCESS.search(metrics_text or "")
    return float(match.group(1)) if match else None


def render_metrics(served, expiring, refused, failed, min_days_valid, now=None, last_success=None):
    """Prometheus text exposition for node-exporter's textfile collector.

    Expiry is a timestamp (never stale, base unit as promtool demands); days left in PromQL:
    ``(squaremcp_certificate_expiry_timestamp_seconds - time()) / 86400``.
    """
    current = _now(now)
    stamp = current.timestamp()
    if not failed:
        last_success = stamp
    samples = {name: [] for name, _help in METRICS}
    for key in sorted(served):
        entry = served[key]
        info = entry["info"]
        not_after = datetime.datetime.strptime(info["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for domain in sorted(set(info["domains"])) or [""]:
            labels = _labels(name=entry["name"], namespace=entry["namespace"], domain=domain)
            samples["squaremcp_certificate_expiry_timestamp_seconds"].append((labels, "%d" % not_after.timestamp()))
    samples["squaremcp_certificate_sync_certificates"].append(("", "%d" % len(served)))
    samples["squaremcp_certificate_sync_expiring"].append(("", "%d" % len(expiring)))
    samples["squaremcp_certificate_sync_refused"].append(("", "%d" % len(refused)))
    samples["squaremcp_certificate_sync_min_valid_seconds"].append(("", "%d" % (min_days_valid * SECONDS_PER_DAY)))
    samples[FAILED_METRIC].append(("", "1" if failed else "0"))
    samples[LAST_RUN_METRIC].append(("", "%.3f" % stamp))
    if last_success is not None:
        samples["squaremcp_certificate_sync_last_success_timestamp_seconds"].append(("", "%.3f" % last_success))
    return _exposition(samples)


def render_failure_metrics(previous_text, now=None):
    """Metrics of a run that could not start: ``failed 1`` and the run time; every other series
    (expiry per certificate, counts, threshold, last success) carried over from ``previous_text``,
    so expiry alerts keep working while the sync is broken."""
    samples = {name: [] for name, _help in METRICS}
    for line in (previous_text or "").splitlines():
        match = SAMPLE.match(line)
        if match and match.group("name") in samples:
            samples[match.group("name")].append((match.group("labels") or "", match.group("value")))
    samples[FAILED_METRIC] = [("", "1")]
    samples[LAST_RUN_METRIC] = [("", "%.3f" % _now(now).timestamp())]
    return _exposition(samples)


def _exposition(samples):
    lines = []
    for name, help_text in METRICS:
        if not samples[name]:
            continue
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
        lines += ["%s%s %s" % (name, labels, value) for labels, value in samples[name]]
    return "\n".join(lines) + "\n"


def render_report(outcome):
    """A short human report (also what the systemd service prints to the journal)."""
    counts = {}
    for cert in outcome["certificates"]:
        counts[cert["action"]] = counts.get(cert["action"], 0) + 1
    head = "traefik_cert_sync %s: %s; %d certificate(s)%s; %d expiring, %d refused%s" % (
        outcome.get("run_at", ""), "FAILED" if outcome.get("failed") else "ok", len(outcome["certificates"]),
        "".join(", %d %s" % (counts[a], a) for a in ACTIONS if counts.get(a)), len(outcome["expiring"]),
        len(outcome["refused"]), " (check mode)" if outcome.get("check_mode") else "")
    lines = [head]
    if outcome.get("error"):
        lines.append("  error: %s" % outcome["error"])
    for cert in outcome["certificates"]:
        shown = cert["installed"] if cert["action"] in ("refused", "skipped", "kept") and cert["installed"] else cert
        when = " notAfter %s (%s days)" % (shown["not_after"], shown["days_left"]) if shown.get("not_after") else ""
        lines.append("  %-9s %s%s%s%s" % (
            cert["action"], ident_of(cert["namespace"], cert["name"]),
            " [%s]" % " ".join(cert["domains"]) if cert["domains"] else "", when,
            ": %s" % cert["reason"] if cert["reason"] else ""))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The run


def _served_from_installed(installed, options, now):
    served = {}
    for key, entry in installed.entries.items():
        info = installed_info(options.dest_dir, entry, now)
        if info is not None:
            namespace, name = split_key(key, options.namespaced)
            served[key] = {"files": entry, "info": info, "namespace": namespace, "name": name}
    return served


def _expiring(plan, options):
    """Idents whose best version (served, else the source's) expires within min_days_valid."""
    out = []
    for cert in plan.results:
        if cert["action"] == "removed" or file_key(cert["namespace"], cert["name"]) in plan.excluded:
            continue
        best = cert["installed"] if cert["action"] in ("refused", "skipped", "kept") else cert
        if (best or {}).get("days_left") is None and cert["action"] in ("refused", "skipped"):
            best = cert
        if best and best.get("days_left") is not None and best["days_left"] < options.min_days_valid:
            out.append(ident_of(cert["namespace"], cert["name"]))
    return out


def _ensure_dir(module, options):
    if os.path.isdir(options.dest_dir):
        return False
    if module.check_mode:
        return True
    try:
        os.makedirs(options.dest_dir, DIR_MODE)
    except OSError as exc:
        raise SyncError("cannot create dest_dir %s: %s (create it or fix the path)" % (options.dest_dir, exc.strerror or exc))
    module.set_fs_attributes_if_different({
        "path": options.dest_dir, "mode": DIR_MODE, "owner": options.owner, "group": options.group, "secontext": None, "seuser": None,
        "serole": None, "setype": None, "selevel": None, "attributes": None}, False)
    return True


def run(module, params, fetch, now=None):
    """Sync once. ``module`` is an ``AnsibleModule`` (or the host entry point's stand-in).

    ``fetch()`` returns the source's :class:`SourceItem` list or raises :class:`SyncError`.
    Returns the outcome dict (``failed`` tells whether the caller must fail; ``report`` is the
    text of :func:`render_report`); raises
    :class:`SyncError` only when nothing could be decided (bad options, missing library, lock,
    unreadable state) -- after :func:`record_failure` wrote the failed metrics and report.
    """
    now = _now(now)
    try:
        return _run(module, params, fetch, now)
    except SyncError as exc:
        problem = record_failure(module, params, str(exc), now)
        if problem:
            raise SyncError("%s (%s)" % (exc, problem)) from exc
        raise
    except Exception as exc:  # a bug must not look like a healthy sync either
        record_failure(module, params, "unexpected %s: %s" % (type(exc).__name__, exc), now)
        raise


def record_failure(module, params, error, now=None):
    """Write ``failed 1`` metrics (:func:`render_failure_metrics`) and the report of a run that could
    not start, to the paths ``params`` names (nothing in check mode). Returns what could not be
    written, or ``None``. Also after a lock timeout: the write is atomic, and the lock holder's own
    write, coming later, then wins."""
    params = params if isinstance(params, dict) else {}
    if getattr(module, "check_mode", False):
        return None
    now = _now(now)
    problems = []
    metrics_path = params.get("metrics_path")
    if metrics_path:
        try:
            previous = fileio.read_bytes(metrics_path)
            text = render_failure_metrics(previous.decode("utf-8", "replace") if previous else None, now)
            fileio.write_files(module, [{"path": metrics_path, "content": text.encode("utf-8"), "mode": "0644"}])
        except (fileio.FileError, OSError) as exc:
            problems.append("metrics not written: %s" % exc)
    report_path = params.get("report_path")
    if report_path:
        report = render_report({"run_at": _iso(now), "failed": True, "error": error, "certificates": [],
                                "expiring": [], "refused": []})
        try:
            fileio.write_files(module, [{"path": report_path, "content": report.encode("utf-8"), "mode": "0644"}])
        except (fileio.FileError, OSError) as exc:
            problems.append("report not written: %s" % exc)
    return "; ".join(problems) or None


def _run(module, params, fetch, now):
    for present, library, package in ((HAS_CRYPTOGRAPHY, "cryptography", "python3-cryptography"), (HAS_YAML, "PyYAML", "python3-yaml")):
        if not present:
            raise SyncError("the Python library %s is missing: install it (Debian: %s)" % (library, package))
    options = Options(params)
    outcome = {"changed": False, "failed": False, "msg": "", "certificates": [], "expiring": [], "refused": [],
               "warnings": [], "written": [], "removed": [], "config_path": options.config_path,
               "run_at": _iso(now), "check_mode": bool(module.check_mode)}
    changed_dir = _ensure_dir(module, options)
    lock = None
    if not module.check_mode:
        try:
            lock = fileio.FileLock(options.lock_file, timeout=options.lock_timeout).acquire()
        except fileio.FileError as exc:
            raise SyncError(str(exc))
    try:
        installed = read_installed(options.config_path)
        outcome["diff"] = {"before": installed.text or "", "before_header": options.config_path}
        try:
            plan = make_plan(fetch(), installed, options, now)
            if not module.check_mode:
                fileio.check_writable_dir(options.config_path)
                fileio.check_writable_dir(os.path.join(options.dest_dir, LOCK_NAME))
        except (SyncError, fileio.FileError) as exc:
            outcome.update(failed=True, msg=str(exc), error=str(exc))
            return _finish_unchanged(module, options, outcome, installed, now)
        outcome.update(certificates=plan.results, warnings=plan.warnings, expiring=_expiring(plan, options))
        outcome["refused"] = [ident_of(c["namespace"], c["name"]) for c in plan.results if c["action"] == "refused"]
        outcome["diff"].update(after=plan.config_text, after_header=options.config_path)
        served = plan.served
        try:
            files = fileio.write_files(module, plan.files)
            config = fileio.write_files(module, [{"path": options.config_path, "content": plan.config_text.encode("utf-8"),
                                                  "mode": CONFIG_MODE, "owner": options.owner, "group": options.group}])
        except fileio.FileError as exc:
            error = "%s; %s still references the previous files" % (exc, options.config_path)
            outcome.update(failed=True, msg=error, error=error)
            return _finish_unchanged(module, options, outcome, installed, now)
        outcome["written"] = files["written"] + config["written"]
        try:
            outcome["removed"] = fileio.remove_files(module, plan.prune)
        except fileio.FileError as exc:
            outcome["warnings"].append("%s (the next run removes it)" % exc)
        outcome["changed"] = bool(changed_dir or files["changed"] or config["changed"] or outcome["removed"])
        problems = []
        if outcome["refused"]:
            problems.append("%d certificate(s) refused: %s" % (len(outcome["refused"]), "; ".join(
                "%s: %s" % (ident_of(c["namespace"], c["name"]), c["reason"]) for c in plan.results if c["action"] == "refused")))
        if outcome["expiring"] and options.on_expiring == "fail":
            problems.append("%d certificate(s) expire within %d days and could not be replaced: %s (on_expiring=fail)" % (
                len(outcome["expiring"]), options.min_days_valid, ", ".join(outcome["expiring"])))
        if problems:
            outcome.update(failed=True, msg=". ".join(problems))
        else:
            outcome["msg"] = "%d certificate(s) in place, %d expiring%s" % (
                len(served), len(outcome["expiring"]), ", %d skipped (never installed)" % len(plan.excluded) if plan.excluded else "")
        return _finish(module, options, outcome, served, now)
    finally:
        if lock is not None:
            lock.release()


def _finish_unchanged(module, options, outcome, installed, now):
    """Finish a failed run that changed nothing: what Traefik still serves, and which of it is expiring."""
    served = _served_from_installed(installed, options, now)
    outcome["expiring"] = sorted(ident_of(entry["namespace"], entry["name"]) for entry in served.values()
                                 if entry["info"]["days_left"] < options.min_days_valid)
    return _finish(module, options, outcome, served, now)


def _finish(module, options, outcome, served, now):
    """Add the report; write the metrics and report files (still under the lock). Not a change."""
    outcome["report"] = render_report(outcome)
    if module.check_mode:
        return outcome
    if options.metrics_path:
        try:
            previous = fileio.read_bytes(options.metrics_path)
            text = render_metrics(served, outcome["expiring"], outcome["refused"], outcome["failed"], options.min_days_valid,
                                  now, previous_last_success(previous.decode("utf-8", "replace") if previous else None))
            fileio.write_files(module, [{"path": options.metrics_path, "content": text.encode("utf-8"), "mode": "0644"}])
        except fileio.FileError as exc:
            outcome["warnings"].append("metrics not written: %s" % exc)
    if options.report_path:
        try:
            fileio.write_files(module, [{"path": options.report_path, "content": outcome["report"].encode("utf-8"),
                                         "mode": "0644"}])
        except fileio.FileError as exc:
            outcome["warnings"].append("report not written: %s" % exc)
    return outcome

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and checking TLS certificate/key pairs (PEM): parse, key match, chain order, validity window.

Plain Python over ``cryptography``; shared by the certificate sync, the ``cert_info`` filter and the
sealing code. Messages never contain key material.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
import traceback
from dataclasses import dataclass
from typing import Any, Dict, Optional

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported through missing_required_lib
    CRYPTOGRAPHY_IMPORT_ERROR: Optional[str] = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None
HAS_CRYPTOGRAPHY = CRYPTOGRAPHY_IMPORT_ERROR is None

UTC = datetime.timezone.utc
SECONDS_PER_DAY = 86400
DIGEST_LENGTH = 16
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


class CertError(Exception):
    """A certificate/key pair cannot be installed; the message is the reason (no key material)."""


class CertSkipped(CertError):
    """A pair that must never be served by Traefik (a CA's key); reported as skipped, never installed."""


def now_utc(now: Optional[datetime.datetime] = None) -> datetime.datetime:
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


def iso(value: datetime.datetime) -> str:
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


def label(cert: Any) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return "CN=%s" % names[0].value if names else cert.subject.rfc4514_string() or "(empty subject)"


def check_chain(chain, private_key, what="tls.crt"):
    """Refuse a chain whose first certificate is not the key's leaf or that is not leaf-first."""
    if not key_matches(chain[0], private_key):
        for index, cert in enumerate(chain[1:], start=2):
            if key_matches(cert, private_key):
                raise CertError(
                    "the chain is not leaf-first: the certificate matching the key (%s) is number %d of %d; "
                    "order %s leaf first, then each issuer" % (label(cert), index, len(chain), what)
                )
        raise CertError(
            "the private key does not match the certificate (%s): the secret mixes two issuances; re-issue it "
            "(for cert-manager: delete the secret so it is issued again)" % label(chain[0])
        )
    for index in range(len(chain) - 1):
        if not issued_by(chain[index], chain[index + 1]):
            raise CertError(
                "the chain is not in order: certificate %d (%s) is not issued by certificate %d (%s); order %s "
                "leaf first, then each issuer" % (index + 1, label(chain[index]), index + 2, label(chain[index + 1]), what)
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
    return int((not_after - now_utc(now)).total_seconds() / SECONDS_PER_DAY)


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
        "not_before": iso(not_before(cert)),
        "not_after": iso(expires),
        "not_after_timestamp": int(expires.timestamp()),
        "days_left": left,
        "expired": now_utc(now) >= expires,
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


@dataclass
class Inspected:
    """A pair that passed every check, normalised for writing (PEM re-encoded, key as PKCS#8)."""

    info: Dict[str, Any]
    cert_bytes: bytes
    key_bytes: bytes

    @property
    def digest(self) -> str:
        """File names follow the content Traefik loads, so a changed chain is a changed name."""
        return hashlib.sha256(self.cert_bytes).hexdigest()[:DIGEST_LENGTH]


def inspect_pair(cert_pem, key_pem, now=None, labels=("tls.crt", "tls.key")):
    """Run every check on one pair; return :class:`Inspected` or raise :class:`CertError`.

    Expiring (but still valid) certificates pass: what to do with them is the plan's decision.
    ``labels`` name the two inputs in messages (secret keys or file names).
    """
    chain = load_chain(cert_pem, labels[0])
    private_key = load_key(key_pem, labels[1])
    if is_ca(chain[0]) and key_matches(chain[0], private_key):
        raise CertSkipped(
            "a CA certificate (%s, basicConstraints CA:TRUE) with its key, e.g. a cert-manager CA or webhook CA: "
            "never served by Traefik; narrow namespaces/label_selector/names to exclude it" % label(chain[0]))
    check_chain(chain, private_key, labels[0])
    info = describe(chain[0], now)
    current = now_utc(now)
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


def is_ca(cert: Any) -> bool:
    """True for a certificate with basicConstraints CA:TRUE."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False

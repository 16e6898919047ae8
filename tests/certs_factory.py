# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test certificates made with ``cryptography``: one small CA (root + intermediate) issuing leaves.

Used by unit, integration, Molecule (via ``python -m tests.certs_factory``) and benchmark code, so
every test speaks about the same kinds of certificates: valid, expiring, expired, wrong key, wrong
chain order, garbage, RSA and ECDSA, plus what must never be installed (a CA with its key, the
Sealed Secrets controller's sealing key).

Also the other helpers the certificate tests share: :class:`EdgeTree` (the Traefik tree a sync
writes, and the options pointing at it), :func:`snapshot`, and tools unpacked from Debian packages
into ``.cache`` (:func:`promtool`, :func:`debian_python3`).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc
DAY = datetime.timedelta(days=1)
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
SEALED_SECRETS_KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
GARBAGE = b"this is not a certificate\n-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"


def new_key(kind="ecdsa"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(kind)


def key_pem(key, traditional=False):
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def cert_pem(*certs):
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Pair(object):
    """A leaf with its key and chain; ``crt``/``key`` are the PEM bytes a secret or file holds."""

    def __init__(self, leaf, key, chain, crt=None, key_bytes=None):
        self.leaf = leaf
        self.key = key
        self.chain = chain
        self.crt = crt if crt is not None else cert_pem(leaf, *chain)
        self.key_pem = key_bytes if key_bytes is not None else key_pem(key)

    @property
    def fingerprint(self):
        return ":".join("%02x" % b for b in self.leaf.fingerprint(hashes.SHA256()))

    def secret(self, name, namespace="default", labels=None):
        """A ``kubernetes.io/tls`` Secret manifest (dict) holding this pair."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "data": {"tls.crt": base64.b64encode(self.crt).decode(), "tls.key": base64.b64encode(self.key_pem).decode()},
        }

    def write(self, directory, name):
        with open(os.path.join(directory, name + ".crt"), "wb") as handle:
            handle.write(self.crt)
        with open(os.path.join(directory, name + ".key"), "wb") as handle:
            handle.write(self.key_pem)


class CertFactory(object):
    """A root CA and an intermediate (ECDSA, fast) issuing leaves relative to ``now``."""

    def __init__(self, now=None, leaf_kind="ecdsa"):
        self.now = now or datetime.datetime.now(UTC)
        self.leaf_kind = leaf_kind
        self._keys = {}
        self.root_key = new_key("ecdsa")
        self.root = self._sign(_name("SquareMCP Test Root"), _name("SquareMCP Test Root"), self.root_key.public_key(),
                               self.root_key, -3650, 3650, ca=True)
        self.inter_key = new_key("ecdsa")
        self.intermediate = self._sign(_name("SquareMCP Test Intermediate"), self.root.subject, self.inter_key.public_key(),
                                       self.root_key, -3650, 3650, ca=True)

    def key(self, kind=None, fresh=False):
        """A leaf key; keys are reused per kind (RSA generation is slow) unless ``fresh``."""
        kind = kind or self.leaf_kind
        if fresh:
            return new_key(kind)
        if kind not in self._keys:
            self._keys[kind] = new_key(kind)
        return self._keys[kind]

    def _sign(self, subject, issuer, public_key, signing_key, start_days, end_days, ca=False, domains=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now + datetime.timedelta(days=start_days))
            .not_valid_after(self.now + datetime.timedelta(days=end_days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if domains:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    def issue(self, domains, days=90, kind=None, start_days=-1, key=None, issuer="intermediate"):
        """A leaf for ``domains`` valid from ``now + start_days`` to ``now + days`` (days may be fractional)."""
        key = key or self.key(kind)
        if issuer == "self":
            leaf = self._sign(_name(domains[0]), _name(domains[0]), key.public_key(), key, start_days, days, domains=domains)
            return Pair(leaf, key, [])
        leaf = self._sign(_name(domains[0]), self.intermediate.subject, key.public_key(), self.inter_key, start_days, days,
                          domains=domains)
        return Pair(leaf, key, [self.intermediate])

    # The kinds every test talks about -------------------------------------------------------
    def valid(self, domain="shop.example.com", kind=None, days=90):
        return self.issue([domain, "www." + domain], days=days, kind=kind)

    def expiring(self, domain="soon.example.com", days=3.5, kind=None):
        return self.issue([domain], days=days, kind=kind)

    def expired(self, domain="old.example.com", kind=None):
        return self.issue([domain], days=-2, start_days=-92, kind=kind)

    def not_yet_valid(self, domain="future.example.com"):
        return self.issue([domain], days=90, start_days=5)

    def wrong_key(self, domain="mixed.example.com", kind=None):
        pair = self.issue([domain], kind=kind)
        other = new_key(kind or self.leaf_kind)
        return Pair(pair.leaf, other, pair.chain)

    def wrong_order(self, domain="order.example.com", kind=None):
        pair = self.issue([domain], kind=kind)
        return Pair(pair.leaf, pair.key, pair.chain, crt=cert_pem(*pair.chain) + cert_pem(pair.leaf))

    def foreign_chain(self, domain="foreign.example.com"):
        """Leaf followed by an intermediate that did not issue it (same name, other key)."""
        pair = self.issue([domain])
        impostor_key = new_key("ecdsa")
        impostor = self._sign(self.intermediate.subject, self.root.subject, impostor_key.public_key(), self.root_key, -10, 10,
                              ca=True)
        return Pair(pair.leaf, pair.key, [impostor])

    def garbage(self):
        return Pair(None, self.key(), [], crt=GARBAGE)

    # What must never be installed ------------------------------------------------------------
    def ca(self, domain=None):
        """A CA certificate with its key and a valid chain (like a cert-manager CA issuer secret)."""
        return Pair(self.intermediate, self.inter_key, [self.root])

    def sealing_key(self, domain="sealed-secret"):
        """Like the Sealed Secrets controller's key: self-signed RSA, NOT a CA (only the label tells)."""
        return self.issue([domain], kind="rsa", issuer="self")

    def sealing_key_secret(self, name="sealed-secrets-keyx7k2p", namespace="kube-system"):
        return self.sealing_key().secret(name, namespace, labels={SEALED_SECRETS_KEY_LABEL: "active"})


class EdgeTree(object):
    """What a sync writes on the "host" -- ``traefik/certs/``, ``traefik/dynamic/certificates.yml``,
    the textfile metrics -- and the options pointing at it: the Kubernetes double (namespace
    ``edge``) when ``kube`` is given, else the directory source ``src/``."""

    def __init__(self, root, kube=None):
        self.root = Path(root)
        self.kube = kube
        self.src = self.root / "src"
        self.traefik = self.root / "traefik"
        self.certs = self.traefik / "certs"
        self.config = self.traefik / "dynamic" / "certificates.yml"
        self.metrics = self.root / "textfile" / "squaremcp_certificates.prom"
        for path in (self.src, self.config.parent, self.metrics.parent):
            path.mkdir(parents=True, exist_ok=True)

    def options(self, **extra):
        if self.kube is not None:
            options = {"kubeconfig": self.kube.kubeconfig_path, "namespaces": ["edge"], "request_timeout": 5}
        else:
            options = {"source": "directory", "source_dir": str(self.src)}
        options.update(dest_dir=str(self.certs), container_cert_dir="/etc/traefik/certs", metrics_path=str(self.metrics))
        options.update(extra)
        return options

    def state(self):
        """What Traefik reads: every file of the tree (bytes and mode) except the lock."""
        return {path: value for path, value in snapshot(str(self.traefik)).items() if not path.endswith(".lock")}

    def referenced(self):
        """Certificate file names listed in certificates.yml."""
        data = yaml.safe_load(self.config.read_text())
        return sorted(os.path.basename(entry["certFile"]) for entry in data["tls"]["certificates"])

    def files(self):
        return sorted(p.name for p in self.certs.iterdir() if not p.name.startswith("."))


def snapshot(root, identity=False):
    """``{relative path: (bytes, mode)}`` of every file under ``root`` (the "previous good state");
    with ``identity`` also the inode and mtime (ns), to prove a file was not even rewritten."""
    state = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            st = os.stat(path)
            with open(path, "rb") as handle:
                state[os.path.relpath(path, root)] = (handle.read(), st.st_mode & 0o7777) + (
                    (st.st_ino, st.st_mtime_ns) if identity else ())
    return state


def unpack_debian_packages(name, packages):
    """``apt-get download`` + ``dpkg-deb -x`` of ``packages`` into ``.cache/<name>`` (nothing installed,
    no daemon started), once, under a lock (pytest -n workers and parallel checkouts share .cache).
    Raises ``RuntimeError`` saying why when that is not possible."""
    target = CACHE / name
    marker = target / (".unpacked-" + "+".join(packages))
    if marker.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / (".%s.lock" % name), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            _unpack(target, marker, packages)
    return target


def _unpack(target, marker, packages):
    download = target / "download"
    download.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(["apt-get", "download"] + list(packages), cwd=str(download), capture_output=True, text=True,
                             check=False)
    if fetched.returncode != 0:
        raise RuntimeError("apt-get download %s failed (needs Debian's apt mirror): %s" % (" ".join(packages), fetched.stderr))
    for package in packages:
        deb = sorted(download.glob("%s_*.deb" % package))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    marker.touch()


def promtool():
    """promtool from PATH, or from Debian's prometheus package unpacked into .cache (no daemon)."""
    found = shutil.which("promtool")
    if found:
        return found
    return str(unpack_debian_packages("promtool", ["prometheus"]) / "usr" / "bin" / "promtool")


DEBIAN_PYTHON_PACKAGES = ["python3-cryptography", "python3-cffi-backend", "python3-yaml", "python3-prometheus-client",
                          "python3-decorator"]


def debian_python3(packages=tuple(DEBIAN_PYTHON_PACKAGES), probe="import cryptography.x509, prometheus_client, yaml"):
    """``(argv, env)`` running Debian's /usr/bin/python3 with the stdlib and ONLY the libraries a role
    installs on the host (``packages``, by default the cert_rotation role's, unpacked into .cache;
    ``-S`` keeps whatever this machine has in site-packages out). ``probe`` must import them.
    Raises ``RuntimeError`` when impossible."""
    python = "/usr/bin/python3"
    if not os.path.exists(python):
        raise RuntimeError("%s does not exist: the hosts' interpreter is Debian's python3; run on Debian" % python)
    packages = list(packages)
    unpacked = unpack_debian_packages("debian-python3" if packages == DEBIAN_PYTHON_PACKAGES else "debian-python3-" + "+".join(packages),
                                      packages)
    env = {"PYTHONPATH": str(unpacked / "usr" / "lib" / "python3" / "dist-packages")}
    argv = [python, "-S"]
    done = subprocess.run(argv + ["-c", probe], env=dict(os.environ, **env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError("Debian's python3 cannot import the unpacked %s: %s" % (", ".join(packages), done.stderr))
    return argv, env


def _main(argv=None):
    """Write TLS secret manifests for Molecule: ``python -m tests.certs_factory OUT.json name=kind ...``."""
    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("output")
    parser.add_argument("--namespace", default="edge")
    parser.add_argument("--root-ca", help="also write the root CA certificate (PEM) here, to trust it")
    parser.add_argument("specs", nargs="+", help="name=kind[:domain[:days]] with kind valid|expiring|expired|wrong_key|wrong_order|ca|"
                                                 "sealing_key (days: validity left, for valid and expiring)")
    args = parser.parse_args(argv)
    factory = CertFactory()
    secrets = []
    for spec in args.specs:
        name, _sep, rest = spec.partition("=")
        kind, _sep, rest = rest.partition(":")
        domain, _sep, days = rest.partition(":")
        if kind == "sealing_key":  # labelled like the Sealed Secrets controller's key
            secrets.append(factory.sealing_key_secret(name, args.namespace))
            continue
        extra = {"days": float(days)} if days else {}
        pair = getattr(factory, kind)(domain, **extra) if domain else getattr(factory, kind)()
        secrets.append(pair.secret(name, args.namespace))
    if args.root_ca:
        with open(args.root_ca, "wb") as handle:
            handle.write(cert_pem(factory.root))
    with open(args.output, "w") as handle:
        json.dump({"apiVersion": "v1", "kind": "List", "items": secrets}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(_main())

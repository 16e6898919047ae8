# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the certificate sync reads certificate/key pairs: Kubernetes ``kubernetes.io/tls`` Secrets or
``<name>.crt`` + ``<name>.key`` pairs in a directory."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from typing import Optional

from ansible_collections.squaremcp.infra.plugins.module_utils import _files as fileio
from ansible_collections.squaremcp.infra.plugins.module_utils import k8s
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_options import SyncError
from ansible_collections.squaremcp.infra.plugins.module_utils._cert_report import ident_of

TLS_SECRET_TYPE = "kubernetes.io/tls"
DIRECTORY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# The Sealed Secrets controller keeps its private sealing key as a kubernetes.io/tls Secret with this label.
SEALED_SECRETS_KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"


@dataclass
class SourceItem:
    """One certificate/key pair as the source holds it, the reason it cannot be read (``problem``:
    refused) or the reason it must never be installed (``excluded``: skipped, key not even decoded)."""

    namespace: str
    name: str
    cert_pem: Optional[bytes] = None
    key_pem: Optional[bytes] = None
    problem: Optional[str] = None
    labels: tuple = ("tls.crt", "tls.key")
    excluded: Optional[str] = None

    def __post_init__(self) -> None:
        self.namespace = self.namespace or ""

    @property
    def ident(self):
        return ident_of(self.namespace, self.name)

    @property
    def key(self):
        return file_key(self.namespace, self.name)


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

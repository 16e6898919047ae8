# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate sync's options: :data:`ARGUMENT_SPEC` is the one definition of the option set (the
module's argument spec, the cert rotation timer's JSON configuration, :class:`Options`' defaults)."""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, cast

from ansible_collections.squaremcp.infra.plugins.module_utils import k8s

LOCK_NAME = ".traefik_cert_sync.lock"
ON_EXPIRING = ("fail", "warn", "skip")

# The option set of the module, the role's JSON configuration and the timer: defined here only.
ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    source=dict(type="str", choices=["kubernetes", "directory"], default="kubernetes"),
    namespaces=dict(type="list", elements="str", default=[]),
    all_namespaces=dict(type="bool", default=False),
    label_selector=dict(type="str"),
    names=dict(type="list", elements="str", default=[]),
    source_dir=dict(type="path"),
    page_size=dict(type="int", default=250),
    dest_dir=dict(type="path", required=True),
    config_path=dict(type="path", default="dynamic/certificates.yml"),
    container_cert_dir=dict(type="str"),
    min_days_valid=dict(type="int", default=14),
    on_expiring=dict(type="str", choices=list(ON_EXPIRING), default="fail"),
    prune=dict(type="bool", default=True),
    allow_empty=dict(type="bool", default=False),
    max_prune_ratio=dict(type="float", default=0.5),
    default_certificate=dict(type="str"),
    owner=dict(type="str"),
    group=dict(type="str"),
    metrics_path=dict(type="path"),
    report_path=dict(type="path"),
    lock_file=dict(type="path"),
    lock_timeout=dict(type="int", default=60),
)
ARGUMENT_SPEC.update(cast(Dict[str, Dict[str, Any]], k8s.KUBE_ARGUMENT_SPEC))


class SyncError(Exception):
    """The run as a whole cannot proceed (source unreachable, bad options, unreadable state)."""


REQUIRED_IF = [("source", "directory", ["source_dir"])]
_TYPES = {"str": (str,), "path": (str,), "list": (list,), "bool": (bool,), "int": (int,), "float": (int, float)}


def check_params(params: Mapping[str, Any], where: str = "the options") -> Dict[str, Any]:
    """``params`` checked against :data:`ARGUMENT_SPEC` the way Ansible would (names, types, choices,
    required), with defaults filled in; for callers without Ansible (the timer's JSON configuration)."""
    if not isinstance(params, Mapping):
        raise SyncError("%s must be a mapping of option names to values" % where)
    unknown = sorted(set(params) - set(ARGUMENT_SPEC))
    if unknown:
        raise SyncError("%s: unknown option%s %s; known: %s" % (
            where, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(sorted(ARGUMENT_SPEC))))
    checked: Dict[str, Any] = {}
    for name, spec in ARGUMENT_SPEC.items():
        value: Any = params.get(name)
        if value is None:
            if spec.get("required"):
                raise SyncError("%s: %s is required" % (where, name))
            checked[name] = spec.get("default")
            continue
        types = _TYPES[spec.get("type", "str")]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise SyncError("%s: %s must be of type %s, got %s" % (where, name, spec.get("type"), type(value).__name__))
        if spec.get("elements") == "str" and not all(isinstance(item, str) for item in cast(list, value)):
            raise SyncError("%s: %s must be a list of strings" % (where, name))
        if spec.get("choices") and value not in spec["choices"]:
            raise SyncError("%s: %s must be one of %s, got %r" % (where, name, ", ".join(spec["choices"]), value))
        checked[name] = value
    for key, wanted, needed in REQUIRED_IF:
        missing = [name for name in needed if checked.get(key) == wanted and not checked.get(name)]
        if missing:
            raise SyncError("%s: %s=%s needs %s" % (where, key, wanted, ", ".join(missing)))
    return checked


class Options:
    """The options with defaults resolved (:data:`ARGUMENT_SPEC`'s names and defaults) and checked."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        def get(name: str) -> Any:
            value = params.get(name)
            return ARGUMENT_SPEC[name].get("default") if value is None else value

        self.source = get("source")
        self.namespaces = list(get("namespaces") or [])
        self.label_selector = get("label_selector") or None
        self.names = list(get("names") or [])
        self.all_namespaces = bool(get("all_namespaces"))
        self.source_dir = get("source_dir") or None
        self.kubeconfig = get("kubeconfig") or None
        self.dest_dir = os.path.abspath(params["dest_dir"])
        # Relative to the Traefik config directory, the parent of dest_dir (<traefik>/certs).
        self.config_path = os.path.join(os.path.dirname(self.dest_dir), get("config_path"))
        self.container_cert_dir = (get("container_cert_dir") or self.dest_dir).rstrip("/") or "/"
        self.min_days_valid = int(get("min_days_valid"))
        self.on_expiring = get("on_expiring")
        self.prune = get("prune") is not False
        self.default_certificate = get("default_certificate") or None
        self.owner = get("owner")
        self.group = get("group")
        self.metrics_path = get("metrics_path") or None
        self.report_path = get("report_path") or None
        self.lock_file = get("lock_file") or os.path.join(self.dest_dir, LOCK_NAME)
        self.lock_timeout = float(get("lock_timeout"))
        self.allow_empty = bool(get("allow_empty"))
        self.max_prune_ratio = float(get("max_prune_ratio"))
        if self.on_expiring not in ON_EXPIRING:
            raise SyncError("on_expiring must be one of %s, not %r" % (", ".join(ON_EXPIRING), self.on_expiring))
        if self.min_days_valid < 0:
            raise SyncError("min_days_valid must be 0 or more, not %d" % self.min_days_valid)
        if not 0 <= self.max_prune_ratio <= 1:
            raise SyncError("max_prune_ratio must be between 0 and 1, not %s" % self.max_prune_ratio)
        if self.source == "kubernetes":
            self._check_scope()

    def _check_scope(self) -> None:
        """A run reads what it was pointed at, never the whole cluster by accident."""
        if self.all_namespaces and self.namespaces:
            raise SyncError("all_namespaces=true and namespaces exclude each other: keep one of them")
        if not (self.all_namespaces or self.namespaces or self.label_selector or self.names):
            raise SyncError(
                "no selection: set namespaces (e.g. [edge]), label_selector or names; or set all_namespaces=true to read "
                "every TLS secret of the cluster (Sealed Secrets keys and CA certificates are skipped even then)")

    def check_source(self) -> None:
        """Refuse a source that cannot exist before anything is created (directory, lock file)."""
        if self.source == "directory" and not os.path.isdir(self.source_dir or ""):
            raise SyncError("source_dir %s is not a directory: create it or fix the path; nothing was created or "
                            "changed" % self.source_dir)
        if self.source == "kubernetes" and self.kubeconfig and not os.path.isfile(self.kubeconfig):
            raise SyncError("kubeconfig %s does not exist: pass the path of a readable kubeconfig (on microk8s: "
                            "/var/snap/microk8s/current/credentials/client.config); nothing was changed"
                            % self.kubeconfig)

    def selection(self) -> str:
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
    def namespaced(self) -> bool:
        return self.source == "kubernetes"

# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Kubernetes REST API double for tests: stdlib only, one file, HTTP/1.1 on 127.0.0.1.

The real ``kubernetes`` client (typed APIs and ``DynamicClient``) and kubernetes.core's modules
talk to it through a generated kubeconfig. It serves discovery, get/list (label and field
selectors, pagination), create, replace, merge/strategic-merge/JSON/apply patches, delete,
``dryRun=All``, ``Status`` error bodies shaped like the API server's, the service proxy, RBAC
denials and injected faults. Objects live in memory; there are no controllers, no watch, no
garbage collection and no schema validation of custom resources.

Python use::

    with KubeDouble() as kube:
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
        client = kubernetes.config.new_client_from_config(config_file=kube.kubeconfig_path)

Command line (copy the file anywhere; no dependency but Python 3.9+)::

    python3 double.py --port 0 --kubeconfig /tmp/kubeconfig --load objects.json --pidfile /run/kd.pid

A kind is one line in ``BUILTIN_KINDS`` (served by the API server itself) or ``KNOWN_CRDS``
(installed as a CustomResourceDefinition at start, like an operator's CRD would be).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

DEFAULT_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NO_DELETECOLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "proxy": ("create", "delete", "get", "patch", "update"),
    "finalize": ("update",),
    "log": ("get",),
}
SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}
SERVICE_CIDR_PREFIX = "10.152.183."  # microk8s' default service range
GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Kind:
    """One served resource type. ``custom`` marks resources served from a CRD."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple = ()
    subresources: tuple = ()
    fields: tuple = ()  # field selectors beyond metadata.name / metadata.namespace
    generation: bool = False
    returns_deleted: bool = False  # DELETE answers with the object instead of a Status
    categories: tuple = ()
    verbs: tuple = DEFAULT_VERBS
    custom: bool = False

    @property
    def group(self):
        return self.api_version.rpartition("/")[0]

    @property
    def version(self):
        return self.api_version.rpartition("/")[2]

    @property
    def singular(self):
        return self.kind.lower()

    @property
    def group_resource(self):
        """``secrets`` or ``ingresses.networking.k8s.io``, as in API messages."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def group_kind(self):
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind

    @property
    def patch_types(self):
        if self.custom:
            return (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)
        return (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

    def discovery(self):
        digest = hashlib.sha256(("%s/%s" % (self.api_version, self.kind)).encode()).digest()
        entries = [
            dict(
                name=self.plural,
                singularName=self.singular,
                namespaced=self.namespaced,
                kind=self.kind,
                verbs=list(self.verbs),
                **({"shortNames": list(self.short_names)} if self.short_names else {}),
                **({"categories": list(self.categories)} if self.categories else {}),
                storageVersionHash=base64.b64encode(digest[:8]).decode(),
            )
        ]
        for sub in self.subresources:
            entry = dict(name="%s/%s" % (self.plural, sub), singularName="", namespaced=self.namespaced,
                         kind={"proxy": self.kind + "ProxyOptions", "scale": "Scale"}.get(sub, self.kind),
                         verbs=list(SUBRESOURCE_VERBS.get(sub, ("get",))))
            if sub == "scale":
                entry.update(group="autoscaling", version="v1")
            entries.append(entry)
        return entries


# Served by the API server itself. Add a kind here with one line.
BUILTIN_KINDS = (
    Kind("v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",), subresources=("finalize", "status"),
         returns_deleted=True, verbs=NO_DELETECOLLECTION, fields=("status.phase",)),
    Kind("v1", "ConfigMap", "configmaps", short_names=("cm",)),
    Kind("v1", "Endpoints", "endpoints", short_names=("ep",)),
    Kind("v1", "Pod", "pods", short_names=("po",), subresources=("log", "status"), categories=("all",),
         returns_deleted=True, fields=("spec.nodeName", "status.phase")),
    Kind("v1", "Secret", "secrets", fields=("type",)),
    Kind("v1", "ServiceAccount", "serviceaccounts", short_names=("sa",)),
    Kind("v1", "Service", "services", short_names=("svc",), subresources=("proxy", "status"), categories=("all",)),
    Kind("apps/v1", "DaemonSet", "daemonsets", short_names=("ds",), subresources=("status",), generation=True,
         categories=("all",)),
    Kind("apps/v1", "Deployment", "deployments", short_names=("deploy",), subresources=("scale", "status"),
         generation=True, categories=("all",)),
    Kind("apps/v1", "StatefulSet", "statefulsets", short_names=("sts",), subresources=("scale", "status"),
         generation=True, categories=("all",)),
    Kind("networking.k8s.io/v1", "IngressClass", "ingressclasses", namespaced=False, generation=True),
    Kind("networking.k8s.io/v1", "Ingress", "ingresses", short_names=("ing",), subresources=("status",), generation=True),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles"),
    Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False,
         short_names=("crd", "crds"), subresources=("status",), generation=True, categories=("api-extensions",)),
)

# Installed as CustomResourceDefinitions when the double starts (``crds=`` chooses which).
KNOWN_CRDS = (
    Kind("bitnami.com/v1alpha1", "SealedSecret", "sealedsecrets", subresources=("status",)),
    Kind("cert-manager.io/v1", "Certificate", "certificates", short_names=("cert", "certs"), subresources=("status",),
         categories=("cert-manager",)),
    Kind("cert-manager.io/v1", "ClusterIssuer", "clusterissuers", namespaced=False, subresources=("status",),
         categories=("cert-manager",)),
    Kind("cert-manager.io/v1", "Issuer", "issuers", subresources=("status",), categories=("cert-manager",)),
)

SEED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")

# Strategic merge: lists merged by key (approximation of the Kubernetes patchMergeKey tags).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid", "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey", "ports": None,  # containerPort in containers, port in Services
}
MERGED_PRIMITIVE_LISTS = {"finalizers"}

# Fields the API server refuses to change on update (422 "field is immutable").
IMMUTABLE_FIELDS = {
    ("", "Secret"): ("type",),
    ("", "Service"): ("spec.clusterIP",),
    ("apps", "DaemonSet"): ("spec.selector",),
    ("apps", "Deployment"): ("spec.selector",),
    ("apps", "StatefulSet"): ("spec.selector",),
    ("networking.k8s.io", "IngressClass"): ("spec.controller",),
}

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
    503: "ServiceUnavailable", 504: "Timeout",
}


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An API failure; ``status`` is the ``Status`` body the server answers with."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "")
        self.details = details
        self.headers = headers or {}

    @property
    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(kind, name=None, **extra):
    details = {}
    if name:
        details["name"] = name
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.plural
    details.update(extra)
    return details


def not_found(kind, name):
    return ApiError(404, '%s "%s" not found' % (kind.group_resource, name), details=_details(kind, name))


def already_exists(kind, name):
    return ApiError(409, '%s "%s" already exists' % (kind.group_resource, name), "AlreadyExists",
                    _details(kind, name))


def conflict(kind, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s' % (kind.group_resource, name, why),
                    details=_details(kind, name))


def invalid(kind, name, causes):
    """``causes``: (field, reason, message) tuples, e.g. ("metadata.name", "FieldValueRequired", ...)."""
    texts = ["%s: %s" % (f, m) for f, dummy, m in causes]
    details = {"name": name} if name else {}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    text = texts[0] if len(texts) == 1 else "[%s]" % ", ".join(texts)
    return ApiError(422, '%s "%s" is invalid: %s' % (kind.group_kind, name or "", text), details=details)


def bad_request(message):
    return ApiError(400, message)


def unknown_resource():
    return ApiError(404, "the server could not find the requested resource", details={})


def method_not_allowed():
    return ApiError(405, "the server does not allow this method on the requested resource", details={})


def unsupported_media_type(types):
    return ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(types))


# --------------------------------------------------------------------------------------------
# Patches and selectors (plain functions: unit-testable on their own)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_directives(value):
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return copy.deepcopy(value)


def _list_merge_key(field_name, items):
    key = MERGE_KEYS.get(field_name)
    if field_name == "ports":
        key = "containerPort" if any("containerPort" in i for i in items if isinstance(i, dict)) else "port"
    return key


def strategic_merge(target, patch, null_deletes=True):
    """Approximation of Kubernetes' strategic merge patch for built-in types.

    Maps merge recursively; lists named in ``MERGE_KEYS`` merge their items by key (with
    ``$patch: replace|delete``); ``finalizers`` merge as a set; other lists are replaced.
    ``$retainKeys`` and ``$setElementOrder`` are accepted and ignored.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in (value or [])]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            if null_deletes:
                result.pop(key, None)
            continue
        if isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value, null_deletes)
        elif isinstance(value, list) and key in MERGED_PRIMITIVE_LISTS and isinstance(result.get(key), list):
            result[key] = result[key] + [v for v in value if v not in result[key]]
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, _list_merge_key(key, result[key] + value), null_deletes)
        else:
            result[key] = _strip_directives(value)
    return result


def _merge_list(current, patch, key, null_deletes):
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return _strip_directives(patch)
    if not all(isinstance(i, dict) for i in current + patch) or key is None:
        return _strip_directives(patch)
    merged = copy.deepcopy(current)
    for item in patch:
        index = next((n for n, old in enumerate(merged) if key in item and old.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append(_strip_directives(item))
        else:
            merged[index] = strategic_merge(merged[index], item, null_deletes)
    return merged


class JsonPatchError(Exception):
    pass


def _pointer(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise JsonPatchError("invalid JSON pointer %r" % (path,))
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _resolve(doc, tokens, path):
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            raise JsonPatchError('doc is missing path: "%s": missing value' % path)
    return doc


def _same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def json_patch(document, operations):
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise JsonPatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(document)

    def add(doc, path, value):
        tokens = _pointer(path)
        if not tokens:
            return value
        parent = _resolve(doc, tokens[:-1], path)
        last = tokens[-1]
        if isinstance(parent, dict):
            parent[last] = value
        elif isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif last.isdigit() and int(last) <= len(parent):
                parent.insert(int(last), value)
            else:
                raise JsonPatchError('add operation does not apply: doc is missing path: "%s"' % path)
        else:
            raise JsonPatchError('add operation does not apply: doc is missing path: "%s"' % path)
        return doc

    def remove(doc, path):
        tokens = _pointer(path)
        if not tokens:
            raise JsonPatchError("cannot remove the whole document")
        parent = _resolve(doc, tokens[:-1], path)
        last = tokens[-1]
        if isinstance(parent, dict) and last in parent:
            return parent.pop(last)
        if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            return parent.pop(int(last))
        raise JsonPatchError('remove operation does not apply: doc is missing path: "%s"' % path)

    for op in operations:
        if not isinstance(op, dict):
            raise JsonPatchError("invalid operation %r" % (op,))
        name, path = op.get("op"), op.get("path")
        if name == "add":
            doc = add(doc, path, copy.deepcopy(op.get("value")))
        elif name == "remove":
            remove(doc, path)
        elif name == "replace":
            _resolve(doc, _pointer(path), path)
            if _pointer(path):
                remove(doc, path)
            doc = add(doc, path, copy.deepcopy(op.get("value")))
        elif name == "move":
            value = remove(doc, op.get("from"))
            doc = add(doc, path, value)
        elif name == "copy":
            value = copy.deepcopy(_resolve(doc, _pointer(op.get("from")), op.get("from")))
            doc = add(doc, path, value)
        elif name == "test":
            if not _same_json(_resolve(doc, _pointer(path), path), op.get("value")):
                raise JsonPatchError("testing value %s failed: test failed" % path)
        else:
            raise JsonPatchError("Unexpected kind: %s" % name)
    return doc


def _split_top_level(text):
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_label_selector(text):
    """``a=b,c!=d,e in (f,g),h notin (i),j,!k`` -> list of (key, op, values); ValueError if malformed."""
    requirements = []
    for part in _split_top_level(text or ""):
        part = part.strip()
        if not part:
            continue
        match = re.match(r"^([^\s!=()]+)\s+(in|notin)\s*\((.*)\)$", part)
        if match:
            key, op = match.group(1), match.group(2)
            values = [v.strip() for v in match.group(3).split(",") if v.strip()]
            if not values:
                raise ValueError("for '%s', '%s' operator, values set can't be empty" % (key, op))
        elif part.startswith("!"):
            key, op, values = part[1:].strip(), "!", []
        else:
            match = re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$", part)
            if match:
                key, op, values = match.group(1), {"==": "="}.get(match.group(2), match.group(2)), [match.group(3)]
            elif re.match(r"^[^\s!=()]+$", part):
                key, op, values = part, "exists", []
            else:
                raise ValueError("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, gt, lt" % part)
        if not LABEL_KEY.match(key) or len(key.rpartition("/")[2]) > 63:
            raise ValueError('unable to parse requirement: key: Invalid value: "%s": name part must consist of '
                             "alphanumeric characters, '-', '_' or '.'" % key)
        for value in values:
            if not LABEL_VALUE.match(value) or len(value) > 63:
                raise ValueError("unable to parse requirement: values[0][%s]: Invalid value: \"%s\": a valid label "
                                 "must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"
                                 % (key, value))
        requirements.append((key, op, values))
    return requirements


def labels_match(requirements, labels):
    labels = labels or {}
    for key, op, values in requirements:
        present = key in labels
        if op == "=" and not (present and labels[key] == values[0]):
            return False
        if op == "!=" and present and labels[key] == values[0]:
            return False
        if op == "in" and not (present and labels[key] in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def _dotted(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def parse_field_selector(text, kind):
    supported = ("metadata.name", "metadata.namespace") + kind.fields
    requirements = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        match = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not match:
            raise ApiError(400, "invalid selector: '%s'; can't understand '%s'" % (text, part))
        key, op, value = match.group(1).strip(), match.group(2), match.group(3).strip()
        if key not in supported:
            if kind.custom:
                raise ApiError(400, '"%s" is not a known field selector: only "metadata.name", "metadata.namespace"'
                               % key)
            raise ApiError(400, "field label not supported: %s" % key)
        requirements.append((key, op != "!=", value))
    return requirements


def fields_match(requirements, obj):
    for key, equal, value in requirements:
        actual = _dotted(obj, key)
        if ((actual or "") == value) != equal:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Defaulting per kind (what the API server fills in, so GET and PATCH answers look real)


def _default_pod_spec(spec):
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        if not isinstance(container, dict):
            continue
        image = container.get("image", "")
        tag = image.rpartition("/")[2]
        latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports", []):
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _default_workload(obj, old):
    spec = obj.setdefault("spec", {})
    template = spec.get("template")
    if isinstance(template, dict):
        _default_pod_spec(template.setdefault("spec", {}))
    spec.setdefault("revisionHistoryLimit", 10)
    if obj["kind"] == "Deployment":
        spec.setdefault("replicas", 1)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    elif obj["kind"] == "DaemonSet":
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    elif obj["kind"] == "StatefulSet":
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})


def _default_pod(obj, old):
    _default_pod_spec(obj.setdefault("spec", {}))
    if old is None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}


def _default_namespace(obj, old):
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    if not obj.get("status"):
        obj["status"] = {"phase": "Active"}


def _default_secret(obj, old):
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal into Go '
                          "struct field Secret.data of type map[string][]uint8")
    for key, value in data.items():
        try:
            base64.b64decode(value or "", validate=True)
        except (ValueError, TypeError) as exc:
            raise bad_request('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input '
                              "byte 0 (key %s)" % key) from exc
    string_data = obj.pop("stringData", None) or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data or "data" in obj:
        obj["data"] = data
    obj.setdefault("type", "Opaque")
    if old is not None and old.get("immutable") and (obj.get("data") != old.get("data") or not obj.get("immutable")):
        raise invalid(_kind_of(obj), obj["metadata"]["name"],
                      [("data", "FieldValueForbidden", "Forbidden: field is immutable when `immutable` is set")])


def _default_service(obj, old, allocate):
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    old_spec = (old or {}).get("spec") or {}
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = old_spec.get("clusterIP") or allocate()
        spec.setdefault("clusterIPs", [spec["clusterIP"]] if spec["clusterIP"] != "None" else ["None"])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports", []):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    if not obj.get("status"):
        obj["status"] = {"loadBalancer": {}}


def _default_crd(obj, old):
    spec = obj.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", "%sList" % names.get("kind", ""))
    obj["spec"]["names"] = names
    obj["status"] = {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
             "lastTransitionTime": obj["metadata"].get("creationTimestamp") or _now()},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted",
             "lastTransitionTime": obj["metadata"].get("creationTimestamp") or _now()},
        ],
        "storedVersions": [v.get("name") for v in spec.get("versions", []) if v.get("storage")],
    }


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _kind_of(obj):
    return Kind(obj.get("apiVersion", "v1"), obj.get("kind", ""), obj.get("kind", "").lower() + "s")


def crd_manifest(kind):
    """The CustomResourceDefinition that serves ``kind`` (a permissive schema: no validation)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (kind.plural, kind.group)},
        "spec": {
            "group": kind.group,
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "names": dict(kind=kind.kind, listKind=kind.kind + "List", plural=kind.plural, singular=kind.singular,
                          **({"shortNames": list(kind.short_names)} if kind.short_names else {}),
                          **({"categories": list(kind.categories)} if kind.categories else {})),
            "versions": [{
                "name": kind.version, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                **({"subresources": {"status": {}}} if "status" in kind.subresources else {}),
            }],
        },
    }


def kinds_from_crd(crd):
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        yield Kind(
            "%s/%s" % (spec["group"], version["name"]), names["kind"], names["plural"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(s for s in ("status", "scale") if s in (version.get("subresources") or {})),
            generation=True, returns_deleted=True, custom=True,
        )


# --------------------------------------------------------------------------------------------
# Test controls: faults, denials, proxy routes, request log


@dataclass
class Fault:
    """Answer matching requests with ``status`` (or hang / drop the connection) ``times`` times."""

    method: tuple = None
    path: str = None  # regular expression searched in the raw request path
    status: int = 500
    times: int = 1  # None: forever
    hang: float = None  # seconds to stall before answering normally (client read timeout)
    drop: bool = False  # close the connection without an answer
    page: int = None  # only the Nth page of a paginated list (1 = first request without continue)
    message: str = None
    reason: str = None
    headers: dict = None
    hits: int = 0

    def matches(self, method, path, page):
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and method not in self.method:
            return False
        if self.path and not re.search(self.path, path):
            return False
        return self.page is None or self.page == page

    @property
    def remaining(self):
        return None if self.times is None else max(self.times - self.hits, 0)


@dataclass
class Denial:
    verbs: tuple = None
    resources: tuple = None
    namespaces: tuple = None
    names: tuple = None
    groups: tuple = None
    times: int = None
    hits: int = 0

    def matches(self, verb, group, resource, namespace, name):
        if self.times is not None and self.hits >= self.times:
            return False
        return all(allowed is None or value in allowed for allowed, value in (
            (self.verbs, verb), (self.groups, group), (self.resources, resource),
            (self.namespaces, namespace), (self.names, name)))


@dataclass
class ProxyRoute:
    namespace: str
    service: str
    path: str
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    handler: object = None  # callable(Request) -> bytes | (status, content_type, bytes)
    headers: dict = None
    hits: int = 0


@dataclass
class Request:
    """One request as the double saw it. ``path`` is raw (percent-encoded), ``query`` has last values."""

    method: str
    path: str
    query: dict
    content_type: str
    body: bytes
    headers: dict = field(default_factory=dict)
    raw_query: str = ""
    status: int = None  # filled in once answered (None when dropped or hung up)

    @property
    def json(self):
        try:
            return json.loads(self.body.decode() or "null")
        except ValueError:
            return None

    @property
    def decoded_path(self):
        return urllib.parse.unquote(self.path)


def _as_tuple(value):
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return (value,)
    return tuple(value)


# --------------------------------------------------------------------------------------------
# The double


class KubeDouble:
    """In-memory Kubernetes API over HTTP. Thread-safe; one instance per test."""

    def __init__(self, host="127.0.0.1", port=0, crds=None, extra_kinds=(), user="system:anonymous",
                 workdir=None, kubeconfig=None, context_name="double", namespaces=SEED_NAMESPACES):
        """``crds``: names (``sealedsecrets.bitnami.com``) or Kinds of KNOWN_CRDS to install; None = all.

        ``extra_kinds``: more built-in Kinds for this instance. ``user``: the identity named in 403s.
        ``workdir``: where the kubeconfig goes (a private temp dir by default, removed by ``stop``).
        """
        self.host = host
        self.port = port
        self.user = user
        self.context_name = context_name
        self._crds = crds
        self._extra_kinds = tuple(extra_kinds)
        self._seed_namespaces = tuple(namespaces)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._owned_workdir = workdir is None
        self._workdir = str(workdir) if workdir else None
        self._kubeconfig_arg = kubeconfig
        self.kubeconfig_path = None
        self._server = None
        self._thread = None
        self._connections = set()
        self.requests = []
        self.faults = []
        self.denials = []
        self._proxies = []
        self._init_state()

    # -- lifecycle -------------------------------------------------------------------------

    def _init_state(self):
        self._kinds = {}  # (group, version, plural) -> Kind
        self._objects = {}  # (group, plural) -> {(namespace, name): obj}
        self._rv = 1000
        self._next_ip = 2
        for kind in BUILTIN_KINDS + self._extra_kinds:
            self._register(kind)
        for name in self._seed_namespaces:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        for kind in KNOWN_CRDS:
            wanted = self._crds is None or kind in self._crds or "%s.%s" % (kind.plural, kind.group) in self._crds
            if wanted:
                self.create(crd_manifest(kind))

    def start(self):
        if self._server:
            return self
        double = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            allow_reuse_address = True

        self._server = Server((self.host, self.port), lambda *a: _Handler(double, *a))
        self.port = self._server.server_address[1]
        self._stopping.clear()
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="kube-double-")
        self.kubeconfig_path = self.write_kubeconfig(
            self._kubeconfig_arg or os.path.join(self._workdir, "kubeconfig"), self.context_name)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="kube-double",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if not self._server:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(5)
        self._server = None
        if self._owned_workdir and self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def write_kubeconfig(self, path, context_name="double", namespace=None):
        """Write a kubeconfig for this double (cluster/context/user all named ``context_name``)."""
        q = json.dumps
        text = "\n".join([
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: %s" % q(context_name),
            "  cluster:",
            "    server: %s" % q(self.url),
            "contexts:",
            "- name: %s" % q(context_name),
            "  context:",
            "    cluster: %s" % q(context_name),
            "    user: %s" % q(context_name),
        ] + (["    namespace: %s" % q(namespace)] if namespace else []) + [
            "current-context: %s" % q(context_name),
            "users:",
            "- name: %s" % q(context_name),
            "  user: {}",
            "preferences: {}",
            "",
        ])
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig-")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path

    def reset(self):
        """Forget objects, faults, denials, proxy routes and the request log; reseed."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.denials.clear()
            self._proxies.clear()
            self._init_state()

    # -- kinds -----------------------------------------------------------------------------

    def _register(self, kind):
        self._kinds[(kind.group, kind.version, kind.plural)] = kind
        self._objects.setdefault((kind.group, kind.plural), {})

    def kinds(self):
        with self._lock:
            return list(self._kinds.values())

    def kind(self, api_version, kind):
        """The served Kind for ``api_version``/``kind`` (KeyError when not served)."""
        group, dummy, version = api_version.rpartition("/")
        with self._lock:
            for candidate in self._kinds.values():
                if candidate.group == group and candidate.version == version and candidate.kind == kind:
                    return candidate
        raise KeyError("%s %s is not served by the double" % (api_version, kind))

    def install_crd(self, kind):
        """Install a CRD serving ``kind`` (a Kind, or the name of one in KNOWN_CRDS)."""
        if isinstance(kind, str):
            kind = next(k for k in KNOWN_CRDS if "%s.%s" % (k.plural, k.group) == kind)
        return self.create(crd_manifest(kind))

    # -- Python-side object API (no faults, no denials, not logged) -------------------------

    def create(self, obj, ensure_namespace=True):
        """Store ``obj`` as the API would on POST (defaults, uid, resourceVersion); keeps ``status``.

        Creates a missing namespace first unless ``ensure_namespace`` is false. Returns a copy.
        Raises ApiError like the API (AlreadyExists, Invalid ...).
        """
        obj = copy.deepcopy(obj)
        with self._lock:
            kind = self.kind(obj.get("apiVersion", ""), obj.get("kind", ""))
            metadata = obj.setdefault("metadata", {})
            metadata.pop("resourceVersion", None)
            namespace = (metadata.get("namespace") or "default") if kind.namespaced else None
            if namespace and ensure_namespace and not self._find(self.kind("v1", "Namespace"), None, namespace):
                self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            return copy.deepcopy(self._create(kind, obj, namespace, dry_run=False, keep_status=True))

    def apply(self, obj):
        """Create ``obj`` or replace the stored one (status included). Returns a copy."""
        with self._lock:
            current = self.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
            if current is None:
                return self.create(obj)
            kind = self.kind(obj["apiVersion"], obj["kind"])
            new = copy.deepcopy(obj)
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return copy.deepcopy(self._update(kind, current, new, dry_run=False, keep_status=True))

    def set_status(self, api_version, kind, name, status, namespace=None):
        """Set ``status`` the way a controller would (via the status subresource)."""
        with self._lock:
            resource = self.kind(api_version, kind)
            current = self._get_or_404(resource, namespace if resource.namespaced else None, name, default_ns=True)
            new = copy.deepcopy(current)
            new["status"] = copy.deepcopy(status)
            return copy.deepcopy(self._update(resource, current, new, dry_run=False, subresource="status"))

    def get(self, api_version, kind, name, namespace=None):
        """The stored object (a copy) or None. Namespaced kinds default to ``default``."""
        with self._lock:
            resource = self.kind(api_version, kind)
            if resource.namespaced:
                namespace = namespace or "default"
            found = self._find(resource, namespace if resource.namespaced else None, name)
            return copy.deepcopy(found)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        """Stored objects (copies), all namespaces unless ``namespace``; sorted by namespace/name."""
        with self._lock:
            resource = self.kind(api_version, kind)
            requirements = parse_label_selector(label_selector or "")
            return [copy.deepcopy(o) for o in self._select(resource, namespace)
                    if labels_match(requirements, o["metadata"].get("labels"))]

    def delete(self, api_version, kind, name, namespace=None):
        """Remove an object at once (finalizers ignored). True when it existed."""
        with self._lock:
            resource = self.kind(api_version, kind)
            namespace = (namespace or "default") if resource.namespaced else None
            found = self._find(resource, namespace, name)
            if found is None:
                return False
            self._remove(resource, found)
            return True

    def load(self, source):
        """Create objects from a list, a ``List``/``XxxList`` dict, a single object, or a file path.

        Files: JSON (``.json``) or YAML (multi-document; needs PyYAML). Namespaces are created first.
        Returns the stored objects.
        """
        objects = _read_objects(source)
        objects.sort(key=lambda o: (o.get("kind") != "Namespace", o.get("kind") != "CustomResourceDefinition"))
        return [self.apply(o) if self._exists(o) else self.create(o) for o in objects]

    def _exists(self, obj):
        try:
            return self.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"],
                            obj["metadata"].get("namespace")) is not None
        except KeyError:
            return False

    # -- controls --------------------------------------------------------------------------

    def fail(self, method=None, path=None, status=500, times=1, hang=None, drop=False, page=None, message=None,
             reason=None, headers=None):
        """Inject a fault for requests matching ``method`` (str or list) and ``path`` (regex, raw path).

        Default: answer 500 InternalError once. ``hang=T`` stalls T seconds then answers normally;
        ``drop=True`` closes the connection without an answer; ``page=N`` only hits the Nth page of a
        paginated list; ``times=None`` never runs out. Returns the Fault (see ``.hits``/``.remaining``).
        """
        methods = None if method is None else tuple(
            m.upper() for m in ([method] if isinstance(method, str) else method))
        fault = Fault(method=methods, path=path, status=status, times=times, hang=hang, drop=drop, page=page, message=message,
                      reason=reason, headers=headers)
        with self._lock:
            self.faults.append(fault)
        return fault

    def deny(self, verb=None, resource=None, namespace=None, name=None, group=None, times=None):
        """Answer 403 Forbidden (RBAC wording) for matching requests; None matches anything.

        ``verb``: get, list, watch, create, update, patch, delete, deletecollection. ``resource``: the
        plural, or ``services/proxy`` style for subresources. Values may be lists.
        """
        denial = Denial(verbs=_as_tuple(verb), resources=_as_tuple(resource), namespaces=_as_tuple(namespace),
                        names=_as_tuple(name), groups=_as_tuple(group), times=times)
        with self._lock:
            self.denials.append(denial)
        return denial

    def service_proxy(self, namespace, service, path, body=b"", content_type="text/plain; charset=utf-8",
                      status=200, handler=None, headers=None, port=8080, port_name="http", create_service=True):
        """Serve ``body`` at ``/api/v1/namespaces/NS/services/SERVICE[:port]/proxy/PATH``.

        ``handler(request)`` may return bytes or (status, content_type, bytes) instead. The Service
        object is created (port ``port`` named ``port_name``) unless it exists or ``create_service``
        is false. Without any route a Service answers 503 "no endpoints available".
        """
        if isinstance(body, str):
            body = body.encode()
        if create_service and self.get("v1", "Service", service, namespace) is None:
            self.create({"apiVersion": "v1", "kind": "Service",
                         "metadata": {"name": service, "namespace": namespace},
                         "spec": {"ports": [{"name": port_name, "port": port, "targetPort": port}]}})
        route = ProxyRoute(namespace, service, path.lstrip("/"), body, content_type, status, handler, headers)
        with self._lock:
            self._proxies.append(route)
        return route

    def requests_matching(self, method=None, path=None):
        """Logged requests with ``method`` whose raw path matches the regex ``path``."""
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method.upper())
                    and (path is None or re.search(path, r.path))]

    def clear_requests(self):
        with self._lock:
            self.requests.clear()

    # -- storage ---------------------------------------------------------------------------

    def _bump(self):
        self._rv += 1
        return str(self._rv)

    def _find(self, kind, namespace, name):
        return self._objects.get((kind.group, kind.plural), {}).get((namespace or "", name))

    def _get_or_404(self, kind, namespace, name, default_ns=False):
        if kind.namespaced and default_ns:
            namespace = namespace or "default"
        found = self._find(kind, namespace if kind.namespaced else None, name)
        if found is None:
            raise not_found(kind, name)
        return found

    def _select(self, kind, namespace):
        store = self._objects.get((kind.group, kind.plural), {})
        return [store[key] for key in sorted(store) if namespace is None or key[0] == namespace]

    def _store(self, kind, obj):
        meta = obj["metadata"]
        self._objects[(kind.group, kind.plural)][(meta.get("namespace") or "", meta["name"])] = obj

    def _remove(self, kind, obj):
        meta = obj["metadata"]
        self._objects[(kind.group, kind.plural)].pop((meta.get("namespace") or "", meta["name"]), None)
        if kind.kind == "CustomResourceDefinition" and kind.group == "apiextensions.k8s.io":
            for served in kinds_from_crd(obj):
                self._kinds.pop((served.group, served.version, served.plural), None)
            if not any(k.group == obj["spec"]["group"] and k.plural == obj["spec"]["names"]["plural"]
                       for k in self._kinds.values()):
                self._objects.pop((obj["spec"]["group"], obj["spec"]["names"]["plural"]), None)
        if kind.kind == "Namespace" and not kind.group:
            for (_group, _plural), store in self._objects.items():
                for key in [k for k in store if k[0] == meta["name"]]:
                    del store[key]

    def _allocate_ip(self):
        used = {o["spec"].get("clusterIP") for o in self._objects.get(("", "services"), {}).values()}
        while SERVICE_CIDR_PREFIX + str(self._next_ip) in used:
            self._next_ip += 1
        self._next_ip += 1
        return SERVICE_CIDR_PREFIX + str(self._next_ip - 1)

    def _apply_defaults(self, kind, obj, old):
        if kind.custom:
            return
        name = (kind.group, kind.kind)
        if name == ("", "Secret"):
            _default_secret(obj, old)
        elif name == ("", "Namespace"):
            _default_namespace(obj, old)
        elif name == ("", "Service"):
            _default_service(obj, old, self._allocate_ip)
        elif name == ("", "Pod"):
            _default_pod(obj, old)
        elif kind.group == "apps":
            _default_workload(obj, old)
        elif name == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            _default_crd(obj, old)

    def _validate(self, kind, obj, old=None):
        meta = obj["metadata"]
        name = meta.get("name")
        label = kind.kind in ("Namespace", "Service")
        pattern, limit = (DNS_LABEL, 63) if label else (DNS_SUBDOMAIN, 253)
        if not pattern.match(name) or len(name) > limit:
            what = "RFC 1123 label" if label else "RFC 1123 subdomain"
            raise invalid(kind, name, [("metadata.name", "FieldValueInvalid",
                                        'Invalid value: "%s": a lowercase %s must consist of lower case alphanumeric '
                                        "characters, '-'%s, and must start and end with an alphanumeric character"
                                        % (name, what, "" if label else " or '.'"))])
        for section in ("labels", "annotations"):
            if meta.get(section) is not None and (not isinstance(meta[section], dict) or not all(
                    isinstance(v, str) for v in meta[section].values())):
                raise bad_request("%s in version \"%s\" cannot be handled as a %s: json: cannot unmarshal into Go "
                                  "struct field ObjectMeta.metadata.%s of type string"
                                  % (kind.kind, kind.version, kind.kind, section))
        for key, value in (meta.get("labels") or {}).items():
            if not LABEL_KEY.match(key) or len(key.rpartition("/")[2]) > 63:
                raise invalid(kind, name, [("metadata.labels", "FieldValueInvalid", 'Invalid value: "%s": name part '
                                            "must consist of alphanumeric characters, '-', '_' or '.'" % key)])
            if not LABEL_VALUE.match(value) or len(value) > 63:
                raise invalid(kind, name, [("metadata.labels", "FieldValueInvalid", 'Invalid value: "%s": a valid '
                                            "label must be an empty string or consist of alphanumeric characters, "
                                            "'-', '_' or '.', and must start and end with an alphanumeric character"
                                            % value)])
        for path in IMMUTABLE_FIELDS.get((kind.group, kind.kind), ()) if old is not None else ():
            before, after = _dotted(old, path), _dotted(obj, path)
            if before is not None and not _same_json(before, after):
                raise invalid(kind, name, [(path, "FieldValueInvalid", "Invalid value: %s: field is immutable"
                                            % json.dumps(after))])
        if kind.kind == "CustomResourceDefinition" and kind.group == "apiextensions.k8s.io":
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            expected = "%s.%s" % (names.get("plural"), spec.get("group"))
            if name != expected or not names.get("kind") or not spec.get("versions"):
                raise invalid(kind, name, [("metadata.name", "FieldValueInvalid",
                                            'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % name)])

    def _normalize(self, kind, obj):
        ordered = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": obj["metadata"]}
        ordered.update((k, v) for k, v in obj.items() if k not in ordered)
        return ordered

    def _create(self, kind, obj, namespace, dry_run, keep_status=False):
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be an object")
        self._check_type(kind, obj)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if kind.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = namespace
            if self._find(self.kind("v1", "Namespace"), None, namespace) is None:
                raise not_found(self.kind("v1", "Namespace"), namespace)
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(kind, "", [("metadata.name", "FieldValueRequired",
                                          "Required value: name or generateName is required")])
            meta["name"] = meta["generateName"] + "".join(random.choice(GENERATE_NAME_ALPHABET) for dummy in range(5))
        self._validate(kind, obj)
        if self._find(kind, namespace, meta["name"]) is not None:
            raise already_exists(kind, meta["name"])
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                    "managedFields", "selfLink"):
            meta.pop(key, None)
        if not keep_status and "status" in kind.subresources:
            obj.pop("status", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if kind.generation:
            meta["generation"] = 1
        self._apply_defaults(kind, obj, None)
        obj = self._normalize(kind, obj)
        if dry_run:
            return obj
        meta["resourceVersion"] = self._bump()
        self._store(kind, obj)
        if kind.kind == "CustomResourceDefinition" and kind.group == "apiextensions.k8s.io":
            for served in kinds_from_crd(obj):
                self._register(served)
        return obj

    def _check_type(self, kind, obj):
        api_version, obj_kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != kind.api_version:
            raise bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                              % (api_version, kind.api_version))
        if obj_kind and obj_kind != kind.kind:
            raise bad_request('%s in version "%s" cannot be handled as a %s: the object provided is unrecognized'
                              % (obj_kind, kind.version, kind.kind))

    def _update(self, kind, old, new, dry_run, subresource=None, require_rv=False, keep_status=False):
        """Replace ``old`` by ``new`` like PUT: optimistic concurrency, defaults, no-op detection."""
        if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
            raise bad_request("the body of the request must be an object")
        self._check_type(kind, new)
        meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        if meta.get("name", old_meta["name"]) != old_meta["name"]:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name"), old_meta["name"]))
        if kind.namespaced and meta.get("namespace", old_meta.get("namespace")) != old_meta.get("namespace"):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta["resourceVersion"]:
            raise conflict(kind, old_meta["name"])
        if not rv and require_rv:
            raise invalid(kind, old_meta["name"], [("metadata.resourceVersion", "FieldValueInvalid",
                                                    "Invalid value: 0x0: must be specified for an update")])
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif "status" in kind.subresources and not keep_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["name"] = old_meta["name"]
        if kind.namespaced:
            meta["namespace"] = old_meta["namespace"]
        else:
            meta.pop("namespace", None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        self._apply_defaults(kind, new, old)
        self._validate(kind, new, old)
        new = self._normalize(kind, new)
        if _same_json(new, old):
            return old
        if kind.generation and not _same_json(_spec_part(new), _spec_part(old)):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if dry_run:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(kind, old)
            return new
        meta["resourceVersion"] = self._bump()
        self._store(kind, new)
        if kind.kind == "CustomResourceDefinition" and kind.group == "apiextensions.k8s.io":
            for served in kinds_from_crd(old):
                self._kinds.pop((served.group, served.version, served.plural), None)
            for served in kinds_from_crd(new):
                self._register(served)
        return new

    def _delete(self, kind, obj, dry_run, preconditions=None):
        meta = obj["metadata"]
        preconditions = preconditions or {}
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if preconditions.get(key) and preconditions[key] != meta.get(key):
                raise conflict(kind, meta["name"], "Precondition failed: %s in precondition: %s, %s in object meta: %s"
                               % (label, preconditions[key], label, meta.get(key)))
        result = copy.deepcopy(obj)
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                result["metadata"]["deletionTimestamp"] = _now()
                result["metadata"]["deletionGracePeriodSeconds"] = 0
                if not dry_run:
                    result["metadata"]["resourceVersion"] = self._bump()
                    self._store(kind, result)
            return result, True
        if kind.kind == "Namespace" and not kind.group:
            result["metadata"]["deletionTimestamp"] = _now()
            result["status"] = {"phase": "Terminating"}
        if not dry_run:
            self._remove(kind, obj)
        return result, kind.returns_deleted

    # -- request handling ------------------------------------------------------------------

    def _page_of(self, query):
        token = query.get("continue")
        if not token:
            return 1
        try:
            return int(_decode_continue(token).get("page", 1))
        except ValueError:
            return 1

    def handle(self, request):
        """Serve one parsed request. Returns (status, headers, body bytes) or "drop"/"hang"-processed."""
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self.faults if f.matches(request.method, request.path,
                                                              self._page_of(request.query))), None)
            if fault:
                fault.hits += 1
        if fault is not None:
            if fault.drop:
                return "drop"
            if fault.hang:
                if self._stopping.wait(fault.hang):
                    return "drop"
            else:
                error = ApiError(fault.status, fault.message or _fault_message(fault.status), fault.reason,
                                 headers=fault.headers)
                return self._error_response(error)
        try:
            with self._lock:
                return self._route(request)
        except ApiError as error:
            return self._error_response(error)
        except Exception as exc:  # noqa: BLE001 - a bug in the double must surface as a 500, not a hang
            return self._error_response(ApiError(500, "Internal error occurred: %s: %s" % (type(exc).__name__, exc)))

    def _error_response(self, error):
        headers = dict(error.headers)
        return error.code, headers, error.status

    def _route(self, request):
        raw = request.path.split("?", 1)[0]
        segments = [urllib.parse.unquote(s) for s in raw.strip("/").split("/")] if raw.strip("/") else []
        method = request.method
        if segments == ["version"] or segments == ["version", ""]:
            return self._only_get(method, SERVER_VERSION)
        if segments == ["api"]:
            return self._only_get(method, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "%s:%d" % (self.host, self.port)}]})
        if segments == ["apis"]:
            return self._only_get(method, {"kind": "APIGroupList", "apiVersion": "v1", "groups": self._groups()})
        if segments == ["api", "v1"]:
            return self._only_get(method, self._resource_list("", "v1"))
        if len(segments) == 2 and segments[0] == "apis":
            group = next((g for g in self._groups() if g["name"] == segments[1]), None)
            if group is None:
                raise unknown_resource()
            return self._only_get(method, dict(kind="APIGroup", apiVersion="v1", **group))
        if len(segments) == 3 and segments[0] == "apis":
            body = self._resource_list(segments[1], segments[2])
            if not body["resources"]:
                raise unknown_resource()
            return self._only_get(method, body)
        if segments[:2] == ["api", "v1"]:
            return self._resource_request(request, "", "v1", segments[2:])
        if len(segments) > 3 and segments[0] == "apis":
            return self._resource_request(request, segments[1], segments[2], segments[3:])
        raise unknown_resource()

    @staticmethod
    def _only_get(method, body):
        if method != "GET":
            raise method_not_allowed()
        return 200, {}, body

    def _groups(self):
        groups = {}
        for kind in self._kinds.values():
            if kind.group:
                versions = groups.setdefault(kind.group, [])
                if kind.version not in versions:
                    versions.append(kind.version)
        return [{"name": name,
                 "versions": [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions],
                 "preferredVersion": {"groupVersion": "%s/%s" % (name, versions[0]), "version": versions[0]}}
                for name, versions in groups.items()]

    def _resource_list(self, group, version):
        resources = []
        for kind in self._kinds.values():
            if kind.group == group and kind.version == version:
                resources.extend(kind.discovery())
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "%s/%s" % (group, version) if group else version, "resources": resources}

    def _lookup(self, group, version, plural):
        kind = self._kinds.get((group, version, plural))
        if kind is None:
            raise unknown_resource()
        return kind

    def _resource_request(self, request, group, version, rest):
        namespace = None
        if (len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in self._kinds):
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise unknown_resource()
        kind = self._lookup(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        all_namespaces_list = kind.namespaced and name is None and request.method == "GET"
        if kind.namespaced != (namespace is not None) and not all_namespaces_list:
            raise unknown_resource()
        if subresource and subresource not in kind.subresources:
            raise unknown_resource()
        verb = self._verb(request, name)
        resource = "%s/%s" % (kind.plural, subresource) if subresource else kind.plural
        self._authorize(verb, kind, resource, namespace, name)
        if subresource == "proxy":
            return self._proxy(request, kind, namespace, name, "/".join(rest[3:]))
        dry_run = self._dry_run(request)
        if name is None:
            if request.method == "GET":
                return self._list(request, kind, namespace)
            if request.method == "POST":
                return self._post(request, kind, namespace, dry_run)
            if request.method == "DELETE":
                return self._delete_collection(request, kind, namespace, dry_run)
            raise method_not_allowed()
        if subresource in ("log", "finalize", "scale") and request.method != "GET":
            raise method_not_allowed()
        current = self._find(kind, namespace, name)
        if current is None:
            if request.method == "PATCH" and not subresource and _media_type(request) == APPLY_PATCH:
                return self._apply_create(request, kind, namespace, name, dry_run)
            raise not_found(kind, name)
        if subresource == "log":
            return 200, {"Content-Type": "text/plain"}, b""
        if subresource == "scale":
            return 200, {}, {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {
                k: current["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in current["metadata"]}, "spec": {"replicas": current.get("spec", {}).get("replicas", 0)},
                "status": {"replicas": (current.get("status") or {}).get("replicas", 0)}}
        if request.method == "GET":
            return 200, {}, current
        if request.method == "PUT":
            body = self._json_body(request)
            return 200, {}, self._update(kind, current, body, dry_run, subresource=subresource,
                                         require_rv=kind.custom)
        if request.method == "PATCH":
            return self._patch(request, kind, current, namespace, name, dry_run, subresource)
        if request.method == "DELETE" and not subresource:
            options = self._json_body(request, allow_empty=True) or {}
            dry_run = dry_run or "All" in (options.get("dryRun") or [])
            result, as_object = self._delete(kind, current, dry_run, options.get("preconditions"))
            if as_object:
                return 200, {}, result
            return 200, {}, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                             "details": _details(kind, name, uid=current["metadata"]["uid"])}
        raise method_not_allowed()

    @staticmethod
    def _verb(request, name):
        if request.method == "GET":
            if name:
                return "get"
            return "watch" if request.query.get("watch") in ("true", "1", "True") else "list"
        return {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}.get(request.method, request.method.lower())

    def _authorize(self, verb, kind, resource, namespace, name):
        denial = next((d for d in self.denials if d.matches(verb, kind.group, resource, namespace, name)), None)
        if denial is None:
            return
        denial.hits += 1
        subject = '%s "%s"' % (kind.group_resource, name) if name else kind.group_resource
        where = 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
        raise ApiError(403, '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s'
                       % (subject, self.user, verb, resource, kind.group, where), details=_details(kind, name))

    @staticmethod
    def _dry_run(request):
        value = request.query.get("dryRun")
        if value is None:
            return False
        if value != "All":
            raise invalid(Kind("meta.k8s.io/v1", "CreateOptions", "createoptions"), "", [(
                "dryRun", "FieldValueNotSupported", 'Unsupported value: "%s": supported values: "All"' % value)])
        return True

    @staticmethod
    def _json_body(request, allow_empty=False):
        if not request.body.strip():
            if allow_empty:
                return None
            raise bad_request("the body of the request is empty")
        try:
            return json.loads(request.body.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request("the body of the request could not be decoded as JSON: %s" % exc) from exc

    def _list(self, request, kind, namespace):
        if request.query.get("watch") in ("true", "1", "True"):
            raise ApiError(405, "watch is not implemented by the test double", details={})
        labels = request.query.get("labelSelector")
        fields = request.query.get("fieldSelector")
        try:
            label_requirements = parse_label_selector(labels or "")
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        field_requirements = parse_field_selector(fields, kind)
        items = [o for o in self._select(kind, namespace)
                 if labels_match(label_requirements, o["metadata"].get("labels")) and fields_match(field_requirements, o)]
        metadata = {"resourceVersion": str(self._rv)}
        token = request.query.get("continue")
        page = 1
        if token:
            try:
                state = _decode_continue(token)
                start, page = state["start"], int(state.get("page", 1))
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request("continue key is not valid: %s" % exc) from exc
            items = [o for o in items if _key(o) > start]
        limit = request.query.get("limit")
        if limit:
            try:
                limit = int(limit)
            except ValueError as exc:
                raise bad_request("limit must be an integer") from exc
            if 0 < limit < len(items):
                rest = len(items) - limit
                items = items[:limit]
                metadata["continue"] = _encode_continue(_key(items[-1]), self._rv, page + 1)
                if not labels and not fields:
                    metadata["remainingItemCount"] = rest
        body = {"kind": kind.kind + "List", "apiVersion": kind.api_version, "metadata": metadata,
                "items": [self._list_item(kind, o) for o in items]}
        return 200, {}, body

    @staticmethod
    def _list_item(kind, obj):
        if kind.custom:
            return obj
        return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}

    def _post(self, request, kind, namespace, dry_run):
        if kind.namespaced and namespace is None:
            raise method_not_allowed()
        body = self._json_body(request)
        created = self._create(kind, body, namespace, dry_run)
        return 201, {}, created

    def _delete_collection(self, request, kind, namespace, dry_run):
        if "deletecollection" not in kind.verbs:
            raise method_not_allowed()
        status, _headers, listing = self._list(request, kind, namespace)
        deleted = []
        for item in listing["items"]:
            current = self._find(kind, item["metadata"].get("namespace"), item["metadata"]["name"])
            result = self._delete(kind, current, dry_run)[0]
            deleted.append(self._list_item(kind, result))
        listing["items"] = deleted
        return status, {}, listing

    def _patch(self, request, kind, current, namespace, name, dry_run, subresource):
        content_type = _media_type(request)
        if content_type not in kind.patch_types:
            raise unsupported_media_type(kind.patch_types)
        force = request.query.get("force")
        if content_type != APPLY_PATCH and force is not None:
            raise invalid(Kind("meta.k8s.io/v1", "PatchOptions", "patchoptions"), "", [
                ("force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch")])
        body = self._json_body(request)
        if content_type == JSON_PATCH:
            try:
                new = json_patch(current, body)
            except JsonPatchError as exc:
                if not isinstance(body, list):
                    raise bad_request(str(exc)) from exc
                raise ApiError(422, str(exc)) from exc
        elif content_type == MERGE_PATCH:
            if not isinstance(body, dict):
                raise bad_request("Invalid JSON Patch")
            new = merge_patch(current, body)
        elif content_type == STRATEGIC_PATCH:
            if not isinstance(body, dict):
                raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
            new = strategic_merge(current, body)
        else:
            return self._server_side_apply(request, kind, current, body, dry_run)
        return 200, {}, self._update(kind, current, new, dry_run, subresource=subresource)

    @staticmethod
    def _check_apply(request, body):
        if not request.query.get("fieldManager"):
            raise invalid(Kind("meta.k8s.io/v1", "PatchOptions", "patchoptions"), "", [
                ("fieldManager", "FieldValueRequired", "Required value: is required for apply patch")])
        if request.query.get("force") not in (None, "true", "false", "True", "False"):
            raise bad_request("force must be true or false")
        if not isinstance(body, dict) or not body.get("apiVersion") or not body.get("kind"):
            raise bad_request("apply patches must be an object with apiVersion and kind set")

    def _apply_create(self, request, kind, namespace, name, dry_run):
        body = self._json_body(request)
        self._check_apply(request, body)
        meta = body.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta.get("name"), name))
        meta["name"] = name
        return 201, {}, self._create(kind, body, namespace, dry_run)

    def _server_side_apply(self, request, kind, current, body, dry_run):
        self._check_apply(request, body)
        if kind.custom:
            new = merge_patch(current, body)
        else:
            new = strategic_merge(current, body)
        return 200, {}, self._update(kind, current, new, dry_run)

    def _proxy(self, request, kind, namespace, name, path):
        if kind.kind != "Service":
            raise unknown_resource()
        parts = name.split(":")
        service = parts[1] if len(parts) == 3 else parts[0]
        port = parts[2] if len(parts) == 3 else (parts[1] if len(parts) == 2 else "")
        obj = self._find(kind, namespace, service)
        if obj is None:
            raise not_found(kind, service)
        ports = obj.get("spec", {}).get("ports") or []
        if port and not any(str(p.get("name")) == port or str(p.get("port")) == port for p in ports):
            raise ApiError(503, 'no endpoints available for service "%s"' % name, details={})
        routes = [r for r in self._proxies if r.namespace == namespace and r.service == service]
        if not routes:
            raise ApiError(503, 'no endpoints available for service "%s"' % service, details={})
        path = path.lstrip("/")
        route = next((r for r in routes if r.path == path), None)
        if route is None:
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n"
        route.hits += 1
        status, content_type, body = route.status, route.content_type, route.body
        if route.handler is not None:
            answer = route.handler(request)
            if isinstance(answer, tuple):
                status, content_type, body = answer
            else:
                body = answer
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": content_type}
        headers.update(route.headers or {})
        return status, headers, body


def _media_type(request):
    return (request.content_type or "").split(";")[0].strip().lower()


def _spec_part(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _key(obj):
    return "%s/%s" % (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def _encode_continue(start, rv, page):
    data = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\u0000", "page": page})
    return base64.urlsafe_b64encode(data.encode()).decode()


def _decode_continue(token):
    padded = token + "=" * (-len(token) % 4)
    try:
        state = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid continue token") from exc
    if not isinstance(state, dict) or "start" not in state:
        raise ValueError("invalid continue token")
    state["start"] = state["start"].rstrip("\u0000")
    return state


def _fault_message(status):
    if status >= 500:
        return "Internal error occurred: injected fault (HTTP %d)" % status
    return "injected fault (HTTP %d)" % status


def _read_objects(source):
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if path.endswith(".json"):
            source = json.loads(text)
        else:
            try:
                import yaml  # noqa: PLC0415 - optional: only for YAML fixture files
            except ImportError as exc:
                try:
                    source = json.loads(text)
                except ValueError:
                    raise ValueError("%s is not JSON and PyYAML is not installed to read YAML" % path) from exc
            else:
                source = [d for d in yaml.safe_load_all(text) if d]
    if isinstance(source, dict):
        source = source["items"] if str(source.get("kind", "")).endswith("List") and "items" in source else [source]
    objects = []
    for obj in source:
        if isinstance(obj, dict) and str(obj.get("kind", "")).endswith("List") and "items" in obj:
            objects.extend(copy.deepcopy(obj["items"]))
        else:
            objects.append(copy.deepcopy(obj))
    return objects


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-double"
    # TCP_NODELAY, as Go's net/http (the API server) sets: without it the body written after the headers waits for
    # the client's delayed ACK, 40 ms for every request after the first on a kept-alive connection.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def __init__(self, double, *args):
        self.double = double
        super().__init__(*args)

    def setup(self):
        super().setup()
        with self.double._lock:
            self.double._connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.double._lock:
                self.double._connections.discard(self.connection)

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        if os.environ.get("KUBE_DOUBLE_VERBOSE"):
            sys.stderr.write("kube-double: %s\n" % (format % args))

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        path, dummy, raw_query = self.path.partition("?")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}
        request = Request(self.command, path, query, self.headers.get("Content-Type"), self._read_body(),
                          dict(self.headers.items()), raw_query)
        answer = self.double.handle(request)
        if answer == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, headers, body = answer
        request.status = status
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, str(value))
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


# --------------------------------------------------------------------------------------------
# Command line


def main(argv=None):
    parser = argparse.ArgumentParser(description="Kubernetes REST API double (tests only).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the double here")
    parser.add_argument("--context", default="double", help="context/cluster/user name in the kubeconfig")
    parser.add_argument("--load", action="append", default=[], help="JSON (or YAML with PyYAML) objects to load")
    parser.add_argument("--proxy", nargs=5, action="append", default=[],
                        metavar=("NAMESPACE", "SERVICE", "PATH", "FILE", "CONTENT_TYPE"),
                        help="answer GET .../services/SERVICE/proxy/PATH with FILE's bytes (repeatable)")
    parser.add_argument("--pidfile", help="write the process id here")
    parser.add_argument("--no-crds", action="store_true", help="do not install the known CRDs")
    args = parser.parse_args(argv)

    double = KubeDouble(host=args.host, port=args.port, crds=() if args.no_crds else None,
                        kubeconfig=args.kubeconfig, context_name=args.context)
    for path in args.load:
        try:
            double.load(path)
        except (OSError, ValueError, KeyError, ApiError) as exc:
            parser.error("cannot load %s: %s" % (path, exc))
    for namespace, service, path, source, content_type in args.proxy:
        try:
            with open(source, "rb") as handle:
                double.service_proxy(namespace, service, path, handle.read(), content_type)
        except OSError as exc:
            parser.error("cannot read %s: %s" % (source, exc))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    double.start()
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as handle:
            handle.write("%d\n" % os.getpid())
    print(double.url, flush=True)
    try:
        while not stop.wait(3600):
            pass
    finally:
        double.stop()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

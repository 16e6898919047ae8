# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes access shared by the collection's modules.

One place builds an ``ApiClient`` from a kubeconfig/context and one place turns client errors
into messages that say what went wrong and what to do. Module code calls :func:`call` around
every API request and handles :class:`KubeError` only.
"""

from __future__ import annotations

import json
import os
import traceback

try:
    import kubernetes
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised through missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
    ApiException = ConfigException = None

try:
    import urllib3

    TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)
except ImportError:  # pragma: no cover
    TRANSPORT_ERRORS = (OSError,)


KUBE_ARGUMENT_SPEC = dict(
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    request_timeout=dict(type="int", default=30),
)


class KubeError(Exception):
    """A Kubernetes call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def api_client(kubeconfig=None, context=None):
    """Return a ``kubernetes.client.ApiClient`` for ``kubeconfig``/``context``.

    Without ``kubeconfig`` the client's own rules apply: ``$KUBECONFIG``, ``~/.kube/config``, then
    the in-cluster service account.
    """
    if kubeconfig and not os.path.exists(kubeconfig):
        raise KubeError("kubeconfig %s does not exist: pass the path of a readable kubeconfig" % kubeconfig)
    try:
        if kubeconfig or os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config")):
            return kubernetes.config.new_client_from_config(
                config_file=kubeconfig, context=context, persist_config=False
            )
        kubernetes.config.load_incluster_config()
        return kubernetes.client.ApiClient()
    except ConfigException as exc:
        raise KubeError(
            "cannot load the Kubernetes configuration%s%s: %s"
            % (" from %s" % kubeconfig if kubeconfig else "", " (context %s)" % context if context else "", exc)
        ) from exc


def status_message(exc):
    """The ``message`` of a Kubernetes ``Status`` body, or the raw reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return data["message"]
        except (TypeError, ValueError):
            pass
    return getattr(exc, "reason", None) or str(exc)


_HINTS = {
    401: "the credentials in the kubeconfig were rejected: refresh the kubeconfig",
    403: "RBAC denied it: grant the permission to the kubeconfig's user or use another context",
    404: "it does not exist (or the API group is not installed)",
    409: "it was changed concurrently: run again",
    422: "the API rejected the object as invalid",
}


def describe(exc, action):
    """Turn a client exception into one line: ``<action> failed: <why> (<what to do>)``."""
    if HAS_KUBERNETES and isinstance(exc, ApiException):
        status = exc.status
        hint = _HINTS.get(status)
        if hint is None and status and status >= 500:
            hint = "the API server failed: check its health and run again"
        return KubeError(
            "%s failed: HTTP %s %s%s" % (action, status, status_message(exc), " (%s)" % hint if hint else ""),
            status=status,
        )
    if isinstance(exc, TRANSPORT_ERRORS):
        return KubeError(
            "%s failed: cannot reach the Kubernetes API (%s): check the kubeconfig server address, "
            "the context and that the cluster is up" % (action, _root_cause(exc))
        )
    return KubeError("%s failed: %s" % (action, exc))


def _root_cause(exc):
    reason = getattr(exc, "reason", None)
    while reason is not None and getattr(reason, "reason", None) is not None and reason is not reason.reason:
        reason = reason.reason
    return str(reason or exc)


def call(action, func, *args, **kwargs):
    """Run ``func(*args, **kwargs)``; raise :class:`KubeError` with a readable message on failure."""
    try:
        return func(*args, **kwargs)
    except KubeError:
        raise
    except Exception as exc:  # noqa: BLE001 - every client failure becomes a KubeError
        if (HAS_KUBERNETES and isinstance(exc, ApiException)) or isinstance(exc, TRANSPORT_ERRORS):
            raise describe(exc, action) from exc
        raise


def list_all(action, func, *args, **kwargs):
    """Follow ``continue`` tokens of a typed ``list_*`` call and return every item."""
    items = []
    token = None
    while True:
        if token:
            kwargs["_continue"] = token
        page = call(action, func, *args, **kwargs)
        items.extend(page.items or [])
        token = getattr(page.metadata, "_continue", None)
        if not token:
            return items

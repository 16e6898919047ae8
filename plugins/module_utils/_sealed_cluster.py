# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Sealed Secrets controller and SealedSecret objects in the cluster, through module_utils/k8s.py:
fetch the controller's certificate like kubeseal, read, compare and apply SealedSecrets."""

from __future__ import annotations

import json

from ansible_collections.squaremcp.infra.plugins.module_utils.k8s import KubeError, call
from ansible_collections.squaremcp.infra.plugins.module_utils.sealing import (
    CERTIFICATE_PATH, DIGEST_ANNOTATION, GROUP, PLURAL, SCOPE_ANNOTATIONS, VERSION)


def fetch_certificate(api_client, controller_name, controller_namespace, timeout=None):
    """PEM of the controller's certificate, fetched like kubeseal: through the API's service proxy
    (``http:<service>:<first port name>``, path ``v1/cert.pem``)."""
    from kubernetes.client import CoreV1Api

    core = CoreV1Api(api_client)
    where = "%s/%s" % (controller_namespace, controller_name)
    service = call(
        "reading the Sealed Secrets controller Service %s (set controller_name/controller_namespace if it "
        "is installed elsewhere)" % where,
        core.read_namespaced_service, controller_name, controller_namespace, _request_timeout=timeout,
    )
    ports = (service.spec.ports if service.spec else None) or []
    if not ports:
        raise KubeError("the Service %s has no ports: it is not the Sealed Secrets controller's Service" % where)
    port = ports[0].name or str(ports[0].port)
    action = "fetching the certificate from the Sealed Secrets controller %s through the service proxy" % where
    try:
        response = call(
            action, core.connect_get_namespaced_service_proxy_with_path,
            "http:%s:%s" % (controller_name, port), controller_namespace, CERTIFICATE_PATH,
            _preload_content=False, _request_timeout=timeout,
        )
    except KubeError as exc:
        if exc.status in (502, 503):
            raise KubeError(
                "%s failed: HTTP %s, the controller has no ready endpoint: check its pods (kubectl -n %s get "
                "pods) and run again, or pass certificate/certificate_path" % (action, exc.status, controller_namespace),
                status=exc.status) from exc
        if exc.status == 404:
            raise KubeError(
                "%s failed: HTTP 404, the Service does not serve %s: is it the Sealed Secrets controller "
                "(set controller_name/controller_namespace)?" % (action, CERTIFICATE_PATH), status=404) from exc
        raise
    data = response.data if hasattr(response, "data") else response
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _custom(api_client):
    from kubernetes.client import CustomObjectsApi

    return CustomObjectsApi(api_client)


def read_sealed_secret(api_client, name, namespace, timeout=None):
    """The stored SealedSecret as a dict, or None when there is none."""
    try:
        return call(
            "reading SealedSecret %s/%s" % (namespace, name),
            _custom(api_client).get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name,
            _request_timeout=timeout,
        )
    except KubeError as exc:
        if exc.status == 404:  # no such object (a missing CRD surfaces when creating it)
            return None
        raise


def needs_update(stored, desired):
    """True when ``stored`` differs from ``desired`` in anything the module manages."""
    if stored is None:
        return True
    stored_annotations = (stored.get("metadata") or {}).get("annotations") or {}
    desired_annotations = desired["metadata"].get("annotations") or {}
    for annotation in list(SCOPE_ANNOTATIONS.values()) + [DIGEST_ANNOTATION]:
        if stored_annotations.get(annotation) != desired_annotations.get(annotation):
            return True
    stored_spec = stored.get("spec") or {}
    return (stored_spec.get("encryptedData") or {}) != desired["spec"]["encryptedData"] or _template(
        stored_spec.get("template")) != desired["spec"]["template"]


def _template(template):
    template = dict(template or {})
    metadata = {key: value for key, value in (template.get("metadata") or {}).items()
                if key in ("name", "namespace", "labels", "annotations") and value}
    template["metadata"] = metadata
    return template


def apply_sealed_secret(api_client, stored, desired, timeout=None):
    """Create ``desired`` or replace the managed parts of ``stored`` (foreign metadata is kept)."""
    api = _custom(api_client)
    namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    if stored is None:
        return call(
            "creating SealedSecret %s/%s" % (namespace, name),
            api.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, desired,
            _request_timeout=timeout,
        )
    body = json.loads(json.dumps(stored))
    body.pop("status", None)
    metadata = body.setdefault("metadata", {})
    annotations = {key: value for key, value in (metadata.get("annotations") or {}).items()
                   if key not in list(SCOPE_ANNOTATIONS.values()) + [DIGEST_ANNOTATION]}
    annotations.update(desired["metadata"].get("annotations") or {})
    metadata["annotations"] = annotations
    body["spec"] = desired["spec"]
    return call(
        "updating SealedSecret %s/%s" % (namespace, name),
        api.replace_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name, body,
        _request_timeout=timeout,
    )

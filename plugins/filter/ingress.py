# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filter over module_utils/ingress.py (documented in ingress_class_mismatches.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.module_utils import ingress as ing


def _objects(value, what):
    """Accept a list of objects or a kubernetes.core.k8s_info result (``resources``)."""
    if value is None:
        return []
    if isinstance(value, dict) and "resources" in value:
        value = value["resources"]
    if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
        raise AnsibleFilterError("ingress_class_mismatches: %s must be a list of Kubernetes objects or a k8s_info "
                                 "result" % what)
    return value


def ingress_class_mismatches(ingresses, ingress_classes=None, workloads=None):
    try:
        return ing.mismatches(_objects(ingresses, "the input (Ingresses)"), _objects(ingress_classes, "ingress_classes"),
                              _objects(workloads, "workloads"))
    except ing.IngressError as exc:
        raise AnsibleFilterError("ingress_class_mismatches: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"ingress_class_mismatches": ingress_class_mismatches}

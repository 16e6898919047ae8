# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filter over module_utils/ingress.py (documented in ingress_class_mismatches.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

NAME = "ingress_class_mismatches"


def _objects(value, what, kinds):
    """Accept a list of objects or a kubernetes.core.k8s_info result (``resources``).

    Items of a list call carry no ``kind`` (the API server drops it); when one does, it must be one of ``kinds``.
    """
    if value is None:
        return []
    if isinstance(value, dict):
        if value.get("failed"):
            raise AnsibleFilterError("%s: %s is a failed k8s_info result (%s): fix that task first"
                                     % (NAME, what, value.get("msg") or "no message"))
        if "results" in value and "resources" not in value:
            raise AnsibleFilterError("%s: %s is the result of a looped task: pass one of its results (e.g. "
                                     "cluster.results[0]) or their resources joined" % (NAME, what))
        if "resources" not in value:
            raise AnsibleFilterError("%s: %s is a single object or an unknown dict: pass a list of Kubernetes "
                                     "objects or a k8s_info result" % (NAME, what))
        value = value["resources"]
    if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
        raise AnsibleFilterError("%s: %s must be a list of Kubernetes objects or a k8s_info result, got %s"
                                 % (NAME, what, type(value).__name__))
    wrong = sorted(set(o["kind"] for o in value if o.get("kind") and o["kind"] not in kinds))
    if wrong:
        raise AnsibleFilterError("%s: %s must hold %s objects, got %s: check the order of the arguments"
                                 % (NAME, what, " or ".join(kinds), ", ".join(wrong)))
    return value


def ingress_class_mismatches(ingresses, ingress_classes=None, workloads=None):
    # Imported here: module_utils/ingress loads the kubernetes client (0.14 s), and Ansible imports every filter file
    # of the collection in each task's worker to find any one of its filters.
    from ansible_collections.squaremcp.infra.plugins.module_utils import ingress as ing

    try:
        return ing.mismatches(_objects(ingresses, "the input (Ingresses)", ("Ingress",)),
                              _objects(ingress_classes, "ingress_classes", ("IngressClass",)),
                              _objects(workloads, "workloads", ("DaemonSet", "Deployment")))
    except ing.IngressError as exc:
        raise AnsibleFilterError("%s: %s" % (NAME, exc))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise AnsibleFilterError("%s: an object is not shaped like the Kubernetes API returns it (%s: %s)"
                                 % (NAME, type(exc).__name__, exc))


class FilterModule(object):
    def filters(self):
        return {NAME: ingress_class_mismatches}

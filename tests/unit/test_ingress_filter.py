# -*- coding: utf-8 -*-
"""The ingress_class_mismatches filter on kubernetes.core.k8s_info-shaped input, and its errors.

k8s_info returns ``{"changed": false, "api_found": true, "resources": [...]}`` with ``kind`` and
``apiVersion`` on every resource (the dynamic client puts back what the API server drops from list
items); a raw list read with ``uri`` has none. Both shapes are built here from the recorded layouts
and the seed manifests; tests/integration/test_ingress_cluster.py feeds it real k8s_info results.
"""

from __future__ import annotations

import copy
import glob
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.filter.ingress import FilterModule

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
mismatches = FilterModule().filters()["ingress_class_mismatches"]


def objects(path):
    with open(path) as handle:
        return [o for o in yaml.safe_load_all(handle) if o]


def k8s_info(items):
    return {"changed": False, "failed": False, "api_found": True, "resources": copy.deepcopy(items)}


def raw_list(result):
    """The items of a plain API list response (``uri`` on /apis/...): no kind, no apiVersion."""
    return [dict((k, v) for k, v in o.items() if k not in ("kind", "apiVersion")) for o in result["resources"]]


def cluster(version):
    layout = objects(os.path.join(FIXTURES, "microk8s", "layout-%s.yaml" % version))
    ingresses = [o for path in sorted(glob.glob(os.path.join(FIXTURES, "manifests", "**", "*.yaml"), recursive=True))
                 for o in objects(path) if o["kind"] == "Ingress"]
    return (k8s_info(ingresses), k8s_info([o for o in layout if o["kind"] == "IngressClass"]),
            k8s_info([o for o in layout if o["kind"] == "DaemonSet"]),
            k8s_info([o for o in layout if o["kind"] == "Deployment"]))


def test_microk8s_134_ignores_the_annotation_and_the_classless_ingress():
    ingresses, classes, daemonsets, deployments = cluster("1.34")
    found = mismatches(ingresses, classes, daemonsets["resources"] + deployments["resources"])
    assert sorted((m["namespace"], m["name"], m["requested_via"], m["reason_code"]) for m in found) == [
        ("hermes-mcp", "hermes-mcp", "annotation", "annotation_ignored"),
        ("squaremcp", "squaremcp-docs", "annotation", "annotation_ignored"),
        ("squaremcp", "squaremcp-www-redirect", "none", "no_class")]
    docs = next(m for m in found if m["name"] == "squaremcp-docs")
    assert docs["reason"].startswith("squaremcp/squaremcp-docs requests nginx through the deprecated annotation")
    assert "ingress/DaemonSet/nginx-ingress-microk8s-controller serves classes [nginx, public]" in docs["reason"]


def test_microk8s_135_traefik_serves_all_five():
    ingresses, classes, daemonsets, deployments = cluster("1.35")
    assert mismatches(ingresses, classes, daemonsets["resources"] + deployments["resources"]) == []


def test_a_whole_k8s_info_result_works_as_workloads_and_a_stopped_controller_is_named():
    ingresses, classes, daemonsets, _deployments = cluster("1.34")
    daemonsets["resources"][0]["status"]["numberReady"] = 0
    found = mismatches(ingresses, classes, daemonsets)
    assert sorted((m["name"], m["reason_code"]) for m in found) == [
        ("hermes-mcp", "annotation_ignored"), ("squaremcp-app", "controller_down"),
        ("squaremcp-docs", "annotation_ignored"), ("squaremcp-site", "controller_down"),
        ("squaremcp-www-redirect", "no_class")]


def test_raw_api_lists_without_kind_work_too():
    ingresses, classes, daemonsets, _deployments = cluster("1.34")
    assert [m["name"] for m in mismatches(raw_list(ingresses), raw_list(classes), raw_list(daemonsets))] == [
        m["name"] for m in mismatches(ingresses, classes, daemonsets)]


def test_a_daemonset_without_kind_or_status_is_still_a_daemonset():
    ingresses, classes, daemonsets, _deployments = cluster("1.34")
    del daemonsets["resources"][0]["status"]  # just created: no status yet, but the API defaulted updateStrategy
    daemonsets["resources"][0]["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    found = mismatches(ingresses, classes, raw_list(daemonsets))
    assert "ingress/DaemonSet/nginx-ingress-microk8s-controller 0/0 ready" in found[0]["reason"]


def test_without_workloads_nothing_is_served_and_empty_results_are_fine():
    ingresses, classes, _daemonsets, _deployments = cluster("1.34")
    assert set(m["reason_code"] for m in mismatches(ingresses, classes)) == {"no_controller"}
    assert mismatches(k8s_info([]), k8s_info([]), k8s_info([])) == []
    assert mismatches(None) == []


@pytest.mark.parametrize("args, message", [
    (("not a list",), "the input (Ingresses) must be a list of Kubernetes objects or a k8s_info result, got str"),
    (([{"metadata": {"name": "x"}}, "y"],), "must be a list of Kubernetes objects"),
    (({"failed": True, "msg": "Failed to find API for resource"},),
     "the input (Ingresses) is a failed k8s_info result (Failed to find API for resource): fix that task first"),
    (({"changed": False, "results": [{"resources": []}]},),
     "is the result of a looped task: pass one of its results (e.g. cluster.results[0])"),
    (({"apiVersion": "v1", "kind": "Ingress", "metadata": {"name": "x"}},), "is a single object or an unknown dict"),
    (([], [{"kind": "DaemonSet", "metadata": {"name": "d"}}]),
     "ingress_classes must hold IngressClass objects, got DaemonSet: check the order of the arguments"),
    (([], [], [{"kind": "IngressClass", "metadata": {"name": "c"}}]),
     "workloads must hold DaemonSet or Deployment objects, got IngressClass"),
    (([], [{"spec": {"controller": "k8s.io/ingress-nginx"}}]), "an IngressClass without metadata.name was given"),
    (([], [], [{"kind": "DaemonSet", "metadata": {"name": "d"}, "status": {"numberReady": "many"}}]),
     "an object is not shaped like the Kubernetes API returns it (ValueError"),
    (([{"metadata": "hermes"}],), "an object is not shaped like the Kubernetes API returns it (AttributeError"),
])
def test_bad_input_is_a_filter_error_that_says_what_to_pass(args, message):
    with pytest.raises(AnsibleFilterError) as info:
        mismatches(*args)
    assert str(info.value).startswith("ingress_class_mismatches: ") and message in str(info.value)

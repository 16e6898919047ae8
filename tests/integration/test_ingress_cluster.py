# -*- coding: utf-8 -*-
"""squaremcp.infra.ingress_class against the Kubernetes double, through ansible-playbook.

Layouts: microk8s <= 1.34 (ingress-nginx, class public) and >= 1.35 (Traefik), plus the seed's
Ingresses (hermes, app, docs, site: class nginx via field and annotation) and a class-less one.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import os

import pytest
import yaml

from tests.kube.double import Fault, KubeDouble
from tests.kube.playbook import run_playbook

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
NET = "networking.k8s.io/v1"
ANNOTATION = "kubernetes.io/ingress.class"

pytestmark = pytest.mark.slow


def layout_objects(version):
    with open(os.path.join(FIXTURES, "microk8s", "layout-%s.yaml" % version)) as handle:
        return [o for o in yaml.safe_load_all(handle) if o]


def seed_ingresses():
    found = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "manifests", "**", "*.yaml"), recursive=True)):
        with open(path) as handle:
            found.extend(d for d in yaml.safe_load_all(handle) if d and d.get("kind") == "Ingress")
    return found


def load(kube, version, edit=None):
    objects = layout_objects(version) + seed_ingresses()
    if edit:
        edit(objects)
    kube.load(objects)


def workload(objects):
    return [o for o in objects if o["kind"] == "DaemonSet"][0]


def klass(objects, name):
    return [o for o in objects if o["kind"] == "IngressClass" and o["metadata"]["name"] == name][0]


def snapshot(kube):
    def strip(objs):
        return sorted((o["metadata"].get("namespace"), o["metadata"]["name"], o["metadata"]["resourceVersion"])
                      for o in objs)
    return strip(kube.list(NET, "Ingress")), strip(kube.list(NET, "IngressClass"))


def ingress(kube, namespace, name):
    obj = kube.get(NET, "Ingress", name, namespace)
    return obj["spec"].get("ingressClassName"), (obj["metadata"].get("annotations") or {}).get(ANNOTATION)


def task(name, **params):
    return {"name": name, "squaremcp.infra.ingress_class": params, "register": "out", "ignore_errors": True}


def play(kube, tmp_path, tasks, **kwargs):
    result = run_playbook(kube, tmp_path, tasks, module_defaults={
        "squaremcp.infra.ingress_class": {"kubeconfig": kube.kubeconfig_path}}, **kwargs)
    assert result.tasks, result.stdout + result.stderr
    return result


# --- <= 1.34 ----------------------------------------------------------------------------------

def test_audit_134_reports_each_ingress_and_changes_nothing(kube, tmp_path):
    load(kube, "1.34")
    before = snapshot(kube)
    out = play(kube, tmp_path, [task("audit")]).task("audit")
    assert out["changed"] is False and snapshot(kube) == before
    decisions = dict((d["name"], d) for d in out["ingresses"])
    assert {n: (d["served"], d["reason_code"]) for n, d in decisions.items()} == {
        "hermes-mcp": (False, "annotation_ignored"), "squaremcp-app": (True, None),
        "squaremcp-docs": (False, "annotation_ignored"), "squaremcp-site": (True, None),
        "squaremcp-www-redirect": (False, "no_class")}
    assert out["controllers"][0]["id"] == "ingress/DaemonSet/nginx-ingress-microk8s-controller"
    assert [(c["name"], c["default"], c["served_by"] != []) for c in out["classes"]] == [
        ("nginx", False, True), ("public", True, True)]


def test_patch_134_check_mode_then_apply_then_nothing(kube, tmp_path):
    load(kube, "1.34")
    before = snapshot(kube)
    checked = play(kube, tmp_path, [task("fix", mode="reconcile")], check=True, diff=True).task("fix")
    assert checked["changed"] is True and len(checked["actions"]) == 3
    assert snapshot(kube) == before
    patches = kube.requests_matching("PATCH", r"/ingresses/")
    assert len(patches) == 3 and all(r.query.get("dryRun") == "All" for r in patches)
    assert checked["diff"][1]["before"] == "spec.ingressClassName: None\nmetadata.annotations[%s]: nginx\n" % ANNOTATION

    result = play(kube, tmp_path, [task("fix", mode="reconcile"), task("again", mode="reconcile"), task("audit")])
    fixed, again, audit = result.task("fix"), result.task("again"), result.task("audit")
    assert fixed["changed"] is True and fixed["target_class"] == "public"
    assert ingress(kube, "hermes-mcp", "hermes-mcp") == ("public", None)
    assert ingress(kube, "squaremcp", "squaremcp-docs") == ("public", None)
    assert ingress(kube, "squaremcp", "squaremcp-www-redirect") == ("public", None)
    assert ingress(kube, "squaremcp", "squaremcp-app") == ("nginx", None)  # served already: untouched
    hermes = kube.get(NET, "Ingress", "hermes-mcp", "hermes-mcp")["metadata"]["annotations"]
    assert hermes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert again["changed"] is False and again["actions"] == [] and again["mismatches"] == []
    assert all(d["served"] for d in audit["ingresses"])


def test_alias_134_creates_the_missing_class_and_keeps_names(kube, tmp_path):
    load(kube, "1.34", lambda objects: objects.remove(klass(objects, "nginx")))
    result = play(kube, tmp_path, [task("fix", mode="reconcile", strategy="alias"),
                                   task("again", mode="reconcile", strategy="alias")])
    fixed, again = result.task("fix"), result.task("again")
    assert [a["action"] for a in fixed["actions"]] == ["create", "patch", "patch", "patch"]
    assert kube.get(NET, "IngressClass", "nginx")["spec"]["controller"] == "k8s.io/ingress-nginx"
    assert ingress(kube, "hermes-mcp", "hermes-mcp") == ("nginx", None)
    assert ingress(kube, "squaremcp", "squaremcp-app") == ("nginx", None)
    assert ingress(kube, "squaremcp", "squaremcp-www-redirect") == ("public", None)
    assert again["changed"] is False


def test_alias_repoints_a_class_naming_a_retired_controller(kube, tmp_path):
    def retire(objects):
        klass(objects, "nginx")["spec"]["controller"] = "example.com/retired"
        klass(objects, "nginx")["metadata"]["labels"] = {"team": "web"}
    load(kube, "1.34", retire)
    checked = play(kube, tmp_path, [task("fix", mode="reconcile", strategy="alias")], check=True).task("fix")
    assert checked["changed"] is True
    assert kube.get(NET, "IngressClass", "nginx")["spec"]["controller"] == "example.com/retired"
    result = play(kube, tmp_path, [task("fix", mode="reconcile", strategy="alias"), task("audit")])
    assert result.task("fix")["actions"][0]["action"] == "replace"
    stored = kube.get(NET, "IngressClass", "nginx")
    assert stored["spec"]["controller"] == "k8s.io/ingress-nginx" and stored["metadata"]["labels"] == {"team": "web"}
    assert all(d["served"] for d in result.task("audit")["ingresses"])


# --- >= 1.35 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["patch", "alias"])
def test_135_traefik_serves_everything_and_reconcile_is_a_no_op(kube, tmp_path, strategy):
    load(kube, "1.35")
    before = snapshot(kube)
    out = play(kube, tmp_path, [task("fix", mode="reconcile", strategy=strategy)]).task("fix")
    assert out["changed"] is False and out["mismatches"] == [] and snapshot(kube) == before
    via = dict((d["name"], d["served_by"]) for d in out["ingresses"])
    assert via["hermes-mcp"] == ["ingress/DaemonSet/traefik [kubernetesIngressNGINX]"]
    assert via["squaremcp-app"] == ["ingress/DaemonSet/traefik [kubernetesIngress]"]


def test_135_without_the_nginx_provider_moves_annotated_ingresses(kube, tmp_path):
    def no_compat(objects):
        container = workload(objects)["spec"]["template"]["spec"]["containers"][0]
        container["args"] = [a for a in container["args"] if "kubernetesingressnginx" not in a]
    load(kube, "1.35", no_compat)
    result = play(kube, tmp_path, [task("fix", mode="reconcile"), task("again", mode="reconcile")])
    assert sorted(a["name"] for a in result.task("fix")["actions"]) == ["hermes-mcp", "squaremcp-docs"]
    assert ingress(kube, "hermes-mcp", "hermes-mcp") == ("public", None)
    assert result.task("again")["changed"] is False


# --- faults: clear message, nothing half-applied ----------------------------------------------

def set_default(name):
    def edit(objects):
        klass(objects, name)["metadata"]["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return edit


def stop_controller(objects):
    workload(objects)["status"]["numberReady"] = 0


def no_classes(objects):
    objects[:] = [o for o in objects if o["kind"] != "IngressClass"]


FAULTS = [
    ("no_ingress_class", no_classes, None, {}, "the cluster has no IngressClass at all"),
    ("two_defaults", set_default("nginx"), None, {}, "several default IngressClasses are served (nginx, public)"),
    ("controller_down", stop_controller, None, {},
     "no ingress controller is running (found: ingress/DaemonSet/nginx-ingress-microk8s-controller 0/1 ready)"),
    ("unknown_target", None, None, {"target_class": "edge"}, "target_class edge does not exist"),
    ("list_forbidden", None, lambda k: k.deny(verb="list", resource="ingresses"), {},
     "listing Ingresses in all namespaces failed: HTTP 403"),
    ("classes_500", None, lambda k: k.fail(method="GET", path=r"/ingressclasses", times=None), {},
     "listing IngressClasses failed: HTTP 500"),
    ("patch_forbidden", None, lambda k: k.deny(verb="patch", resource="ingresses"), {},
     "dry run of patch Ingress hermes-mcp/hermes-mcp to class public: patching Ingress hermes-mcp/hermes-mcp "
     "failed: HTTP 403"),
    ("alias_unknown_target", None, None, {"strategy": "alias", "target_class": "traefik"},
     "target_class traefik does not exist"),
]


API_STATUS = {"list_forbidden": 403, "classes_500": 500, "patch_forbidden": 403}  # the rest fail before the API


def test_faults_fail_clearly_and_change_nothing(kube, tmp_path):
    """Every fault gets its own double; one playbook runs the module once against each."""
    with contextlib.ExitStack() as stack:
        doubles, before, tasks = {}, {}, []
        for name, edit, fault, params, _message in FAULTS:
            double = stack.enter_context(KubeDouble(workdir=tmp_path / name))
            load(double, "1.34", edit)
            before[name] = snapshot(double)
            if fault:
                fault(double)
            doubles[name] = double
            tasks.append(task(name, mode="reconcile", kubeconfig=double.kubeconfig_path, **params))
        result = play(kube, tmp_path, tasks)
        messages = dict((name, result.task(name).get("msg", "")) for name in doubles)
        assert dict((name, message in messages[name]) for name, _e, _f, _p, message in FAULTS) == dict(
            (name, True) for name in doubles), messages
        assert all(result.task(name)["failed"] for name in doubles)
        assert dict((name, snapshot(d)) for name, d in doubles.items()) == before
        assert "RBAC denied it" in messages["patch_forbidden"] and "nothing was changed" in messages["patch_forbidden"]
        statuses = dict((name, result.task(name).get("status")) for name in doubles)
        assert statuses == dict((name, API_STATUS.get(name)) for name in doubles)


def test_traefik_pinned_to_one_class_cannot_be_aliased(kube, tmp_path):
    def pin(objects):
        workload(objects)["spec"]["template"]["spec"]["containers"][0]["args"].append(
            "--providers.kubernetesingress.ingressclass=traefik")
        container = workload(objects)["spec"]["template"]["spec"]["containers"][0]
        container["args"] = [a for a in container["args"] if "kubernetesingressnginx" not in a]
    load(kube, "1.35", pin)
    before = snapshot(kube)
    out = play(kube, tmp_path, [task("fix", mode="reconcile", strategy="alias", target_class="traefik")]).task("fix")
    assert out["failed"] is True and "would leave Ingresses unserved, so nothing was changed" in out["msg"]
    assert snapshot(kube) == before


class SecondMatch(Fault):
    """A fault for the second matching request only: the dry run passes, the real request fails."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = 0

    def matches(self, method, path, page):
        if not super().matches(method, path, page):
            return False
        self.seen += 1
        return self.seen == 2


def test_api_failure_mid_apply_reports_what_was_applied_and_a_rerun_completes(kube, tmp_path):
    load(kube, "1.34")
    kube.faults.append(SecondMatch(method=("PATCH",), path=r"/ingresses/squaremcp-docs$", status=500))
    out = play(kube, tmp_path, [task("fix", mode="reconcile")]).task("fix")
    assert out["failed"] is True and out["status"] == 500
    assert "patch Ingress squaremcp/squaremcp-docs to class public: patching Ingress squaremcp/squaremcp-docs " \
        "failed: HTTP 500" in out["msg"]
    assert "already applied: patch Ingress hermes-mcp/hermes-mcp to class public" in out["msg"]
    assert [a["name"] for a in out["applied"]] == ["hermes-mcp"]
    assert [a["name"] for a in out["not_applied"]] == ["squaremcp-docs", "squaremcp-www-redirect"]
    assert ingress(kube, "hermes-mcp", "hermes-mcp") == ("public", None)
    assert ingress(kube, "squaremcp", "squaremcp-docs") == (None, "nginx")
    result = play(kube, tmp_path, [task("fix", mode="reconcile"), task("again", mode="reconcile")])
    assert [a["name"] for a in result.task("fix")["actions"]] == ["squaremcp-docs", "squaremcp-www-redirect"]
    assert result.task("again")["changed"] is False


def test_unreachable_api_is_named(kube, tmp_path):
    config = yaml.safe_load(open(kube.kubeconfig_path))
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    out = play(kube, tmp_path, [task("audit", kubeconfig=str(dead), request_timeout=5)]).task("audit")
    assert out["failed"] is True and "cannot reach the Kubernetes API" in out["msg"] and out["status"] is None


def test_file_mode_resolves_auto_from_the_cluster(kube, tmp_path):
    load(kube, "1.35")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(copy.deepcopy(seed_ingresses()[0])))
    out = play(kube, tmp_path, [task("fix", paths=[str(manifest)], mode="reconcile")]).task("fix")
    assert out["target_class"] == "public" and out["changed"] is True
    assert yaml.safe_load(manifest.read_text())["spec"]["ingressClassName"] == "public"


# --- the ingress_class_mismatches filter on real k8s_info results ------------------------------

def test_filter_on_k8s_info_results_agrees_with_the_module(kube, tmp_path):
    """The filter's documented example (k8s_info in a loop), checked against the module's audit."""
    load(kube, "1.34")
    result = play(kube, tmp_path, [
        {"name": "read", "kubernetes.core.k8s_info": {"kind": "{{ item }}"},
         "loop": ["Ingress", "IngressClass", "DaemonSet", "Deployment"], "register": "cluster"},
        {"name": "filter", "ansible.builtin.set_fact": {"unserved": (
            "{{ cluster.results[0] | squaremcp.infra.ingress_class_mismatches(cluster.results[1], "
            "cluster.results[2].resources + cluster.results[3].resources) }}")}},
        {"name": "show", "ansible.builtin.debug": {"var": "unserved"}},
        task("audit"),
        {"name": "looped result given whole", "ansible.builtin.set_fact": {
            "wrong": "{{ cluster | squaremcp.infra.ingress_class_mismatches }}"}, "ignore_errors": True}])
    assert result.task("read")["results"][2]["resources"][0]["kind"] == "DaemonSet"  # the dynamic client adds it
    unserved = result.task("show")["unserved"]
    assert [(m["name"], m["reason_code"]) for m in unserved] == [
        (m["name"], m["reason_code"]) for m in result.task("audit")["mismatches"]]
    assert sorted(m["name"] for m in unserved) == ["hermes-mcp", "squaremcp-docs", "squaremcp-www-redirect"]
    wrong = result.task("looped result given whole")
    assert wrong["failed"] is True and "is the result of a looped task: pass one of its results" in wrong["msg"]

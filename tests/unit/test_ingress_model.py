# -*- coding: utf-8 -*-
"""Controller discovery, per-Ingress decisions, target choice and plans of module_utils/ingress.py."""

from __future__ import annotations

import copy
import glob
import os

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import ingress as ing
from ansible_collections.squaremcp.infra.plugins.module_utils import k8s

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
MANIFESTS = sorted(glob.glob(os.path.join(FIXTURES, "manifests", "**", "*.yaml"), recursive=True))


def layout(version):
    with open(os.path.join(FIXTURES, "microk8s", "layout-%s.yaml" % version)) as handle:
        objects = [o for o in yaml.safe_load_all(handle) if o]
    classes = [o for o in objects if o["kind"] == "IngressClass"]
    workloads = [o for o in objects if o["kind"] in ("DaemonSet", "Deployment")]
    return classes, workloads


def seed_ingresses():
    result = []
    for path in MANIFESTS:
        with open(path) as handle:
            result.extend(ing.ManifestFile(path, handle.read()).ingresses())
    return result


def model(version, edit=None):
    classes, workloads = layout(version)
    if edit:
        edit(classes, workloads)
    return ing.build_model(classes, workloads)


def by_name(decisions):
    return dict((d["name"], d) for d in decisions)


def ingress(name, field=None, annotation=None, **extra):
    meta = {"name": name, "namespace": "web"}
    if annotation is not None or extra.get("annotations"):
        meta["annotations"] = dict(extra.get("annotations") or {})
        if annotation is not None:
            meta["annotations"][ing.ANNOTATION_CLASS] = annotation
    spec = {"rules": []}
    if field is not None:
        spec["ingressClassName"] = field
    return ing.Ingress.from_object({"metadata": meta, "spec": spec})


# --- discovery --------------------------------------------------------------------------------

def test_microk8s_134_runs_ingress_nginx_for_class_public():
    m = model("1.34")
    assert [c.as_dict() for c in m.controllers] == [{
        "id": "ingress/DaemonSet/nginx-ingress-microk8s-controller",
        "workload": "ingress/DaemonSet/nginx-ingress-microk8s-controller", "implementation": "ingress-nginx",
        "controller": "k8s.io/ingress-nginx", "ingress_class": "public", "watch_without_class": False,
        "class_by_name": False, "running": True, "ready": 1, "desired": 1, "host_ports": [80, 443, 10254]}]
    assert m.defaults() == ["public"]
    assert m.served_classes() == {"nginx": [m.controllers[0].id], "public": [m.controllers[0].id]}


def test_microk8s_135_runs_two_traefik_providers():
    m = model("1.35")
    assert [(c.implementation, c.controller, c.ingress_class, c.host_ports) for c in m.controllers] == [
        ("traefik", "traefik.io/ingress-controller", "", [80, 443]),
        ("traefik-ingress-nginx", "k8s.io/ingress-nginx", "nginx", [80, 443]),
    ]
    # All three classes point at traefik.io/ingress-controller, none at the NGINX provider (#381).
    assert sorted(m.served_classes()) == ["nginx", "public", "traefik"]
    assert m.defaults() == ["public"]


@pytest.mark.parametrize("argv, expected", [
    (["--ingress-class", "public", "--controller-class=k8s.io/x"], {"ingress-class": "public", "controller-class": "k8s.io/x"}),
    (["-ingress-class=edge", "--watch-ingress-without-class"], {"ingress-class": "edge", "watch-ingress-without-class": "true"}),
    (["--Providers.KubernetesIngress.IngressClass=Web", "--providers.kubernetesingressnginx=false"],
     {"providers.kubernetesingress.ingressclass": "Web", "providers.kubernetesingressnginx": "false"}),
    (["/nginx-ingress-controller", " ", "--", "--watch-ingress-without-class", "false"],
     {"watch-ingress-without-class": "true"}),
])
def test_parse_flags_reads_go_style_arguments(argv, expected):
    assert ing.parse_flags(argv) == expected


def test_traefik_configured_by_file_is_not_counted_and_says_so():
    workload = {"kind": "Deployment", "metadata": {"name": "edge", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "traefik", "image": "traefik:v3.6", "args": ["--configfile=/etc/traefik/traefik.yml"]}]}}},
                "status": {"readyReplicas": 1}}
    m = ing.build_model([], [workload])
    assert m.controllers == []
    assert "kube-system/Deployment/edge runs Traefik without" in m.warnings[0]


def test_unrelated_workloads_are_ignored_and_readiness_is_read_for_deployments():
    app = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "web"},
           "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "node:22"}]}}}}
    nginx = {"metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
             "spec": {"replicas": 2, "template": {"spec": {"containers": [
                 {"name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.12.1@sha256:abc",
                  "args": ["/nginx-ingress-controller"]}]}}},
             "status": {"readyReplicas": 2, "replicas": 2}}
    m = ing.build_model([], [app, nginx])
    assert [(c.workload, c.ingress_class, c.ready, c.desired) for c in m.controllers] == [
        ("ingress-nginx/Deployment/ingress-nginx-controller", "nginx", 2, 2)]


# --- decisions --------------------------------------------------------------------------------

def test_audit_on_134_serves_the_field_form_and_ignores_annotation_and_classless():
    decisions = by_name(ing.audit(seed_ingresses(), model("1.34")))
    assert {n: d["served"] for n, d in decisions.items()} == {
        "hermes-mcp": False, "squaremcp-app": True, "squaremcp-docs": False, "squaremcp-site": True,
        "squaremcp-www-redirect": False}
    assert decisions["squaremcp-app"]["via"] == "IngressClass nginx -> k8s.io/ingress-nginx"
    assert decisions["hermes-mcp"]["reason_code"] == "annotation_ignored"
    assert "deprecated annotation kubernetes.io/ingress.class" in decisions["hermes-mcp"]["reason"]
    assert "the annotation [public]" in decisions["hermes-mcp"]["reason"]
    assert decisions["squaremcp-www-redirect"]["reason_code"] == "no_class"
    assert decisions["squaremcp-docs"]["requested_via"] == "annotation"


def test_audit_on_135_serves_everything_through_traefik():
    decisions = by_name(ing.audit(seed_ingresses(), model("1.35")))
    assert all(d["served"] for d in decisions.values())
    assert decisions["hermes-mcp"]["served_by"] == ["ingress/DaemonSet/traefik [kubernetesIngressNGINX]"]
    assert decisions["squaremcp-app"]["served_by"] == ["ingress/DaemonSet/traefik [kubernetesIngress]"]
    assert decisions["squaremcp-www-redirect"]["via"].startswith("no class")


def test_missing_nginx_class_leaves_the_field_form_unserved():
    m = model("1.34", lambda classes, _w: classes.pop(1))  # microk8s <= 1.21 created only "public"
    decisions = by_name(ing.audit(seed_ingresses(), m))
    assert decisions["squaremcp-app"]["reason_code"] == "class_missing"
    assert "IngressClass nginx (spec.ingressClassName), which does not exist" in decisions["squaremcp-app"]["reason"]


def test_class_pointing_at_an_absent_controller_is_reported():
    def repoint(classes, _w):
        classes[1]["spec"]["controller"] = "example.com/retired"
    decision = by_name(ing.audit(seed_ingresses(), model("1.34", repoint)))["squaremcp-site"]
    assert decision["reason_code"] == "class_unserved"
    assert "controller example.com/retired" in decision["reason"]


def test_controller_with_no_ready_pod_is_named_as_the_cause():
    def stop(_c, workloads):
        workloads[0]["status"]["numberReady"] = 0
    decision = by_name(ing.audit(seed_ingresses(), model("1.34", stop)))["squaremcp-app"]
    assert decision["reason_code"] == "controller_down"
    assert "not running (0/1 ready)" in decision["reason"]


def test_no_controller_at_all():
    decision = ing.decide(ingress("a", field="public"), model("1.34", lambda _c, w: w.clear()))
    assert decision["reason_code"] == "no_controller"


def test_watch_without_class_serves_classless_ingresses():
    def watch(_c, workloads):
        workloads[0]["spec"]["template"]["spec"]["containers"][0]["args"].append("--watch-ingress-without-class=true")
    assert ing.decide(ingress("bare"), model("1.34", watch))["served"]


def test_traefik_ingressclass_option_limits_the_field_to_that_name():
    def pin(_c, workloads):
        workloads[0]["spec"]["template"]["spec"]["containers"][0]["args"].append(
            "--providers.kubernetesingress.ingressclass=traefik")
    m = model("1.35", pin)
    assert ing.decide(ingress("t", field="traefik"), m)["served"]
    assert not ing.decide(ingress("p", field="public"), m)["served"]
    assert not ing.decide(ingress("bare"), m)["served"]  # unclassed only while the option is unset
    assert ing.decide(ingress("a", annotation="traefik"), m)["served"]


def test_nginx_provider_honours_the_field_once_a_class_names_its_controller():
    def fix_381(classes, _w):
        classes[2]["spec"]["controller"] = "k8s.io/ingress-nginx"  # what microk8s-core-addons PR #382 does
    decision = ing.decide(ingress("n", field="nginx"), model("1.35", fix_381))
    assert decision["served_by"] == ["ingress/DaemonSet/traefik [kubernetesIngressNGINX]"]


def test_issue_381_warning_for_nginx_annotations_on_class_nginx():
    decision = ing.decide(ingress("n", field="nginx", annotations={
        "nginx.ingress.kubernetes.io/affinity": "cookie"}), model("1.35"))
    assert decision["served"]
    assert "microk8s-core-addons#381" in decision["warnings"][0]
    assert ing.decide(ingress("n", field="nginx"), model("1.35"))["warnings"] == []


def test_ingress_served_by_two_controllers_is_flagged():
    def second(_c, workloads):
        twin = copy.deepcopy(workloads[0])
        twin["metadata"]["name"] = "twin"
        workloads.append(twin)
    decision = ing.decide(ingress("a", field="public"), model("1.34", second))
    assert len(decision["served_by"]) == 2 and "served by 2 controllers" in decision["warnings"][0]


def test_mismatches_filter_entry_point_reads_raw_objects():
    classes, workloads = layout("1.34")
    raw = [{"metadata": {"name": "x", "namespace": "a", "annotations": {ing.ANNOTATION_CLASS: "nginx"}}, "spec": {}},
           {"metadata": {"name": "y", "namespace": "a"}, "spec": {"ingressClassName": "public"}}]
    assert [(d["name"], d["reason_code"]) for d in ing.mismatches(raw, classes, workloads)] == [("x", "annotation_ignored")]


# --- target class -----------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.34", "1.35"])
def test_auto_picks_the_served_default_class(version):
    assert ing.resolve_target("auto", model(version)) == "public"


def test_auto_without_any_ingress_class_is_an_error():
    with pytest.raises(ing.IngressError, match="no IngressClass at all"):
        ing.resolve_target("auto", model("1.34", lambda c, _w: c.clear()))


def test_auto_with_two_served_defaults_lists_them():
    def second_default(classes, _w):
        classes[1]["metadata"]["annotations"] = {ing.ANNOTATION_DEFAULT: "true"}
    m = model("1.34", second_default)
    assert "2 IngressClasses are marked default (nginx, public)" in m.warnings[0]
    with pytest.raises(ing.IngressError, match=r"several default IngressClasses are served \(nginx, public\)"):
        ing.resolve_target("auto", m)


def test_auto_without_default_and_without_claimed_name_lists_candidates():
    def plain(classes, workloads):
        del classes[0]["metadata"]["annotations"]
        workloads[0]["spec"]["template"]["spec"]["containers"][0]["args"][4] = "--ingress-class=edge"
    with pytest.raises(ing.IngressError, match="serve nginx, public and none of them is the default"):
        ing.resolve_target("auto", model("1.34", plain))


def test_auto_prefers_the_name_the_controller_claims_when_no_default():
    def plain(classes, _w):
        del classes[0]["metadata"]["annotations"]
    assert ing.resolve_target("auto", model("1.34", plain)) == "public"


def test_auto_with_nothing_served_explains_the_controllers():
    with pytest.raises(ing.IngressError, match="no IngressClass is served by a running controller"):
        ing.resolve_target("auto", model("1.34", lambda _c, w: w[0]["status"].update(numberReady=0)))


@pytest.mark.parametrize("target, message", [
    ("edge", r"target_class edge does not exist \(IngressClasses: nginx, public\)"),
    ("Bad_Name", "not a valid IngressClass name"),
])
def test_explicit_target_is_checked(target, message):
    with pytest.raises(ing.IngressError, match=message):
        ing.resolve_target(target, model("1.34"))


def test_explicit_target_that_nothing_serves_is_refused():
    def extra(classes, _w):
        classes.append({"metadata": {"name": "old"}, "spec": {"controller": "example.com/gone"}})
    with pytest.raises(ing.IngressError, match="target_class old names controller example.com/gone"):
        ing.resolve_target("old", model("1.34", extra))


# --- plans ------------------------------------------------------------------------------------

def summary(actions):
    return [ing.describe_action(a) for a in actions]


def test_patch_plan_on_134_moves_the_unserved_to_public_and_drops_the_annotation():
    actions = ing.plan(seed_ingresses(), model("1.34"), "patch", "public")
    assert summary(actions) == [
        "patch Ingress squaremcp/squaremcp-docs to class public",
        "patch Ingress hermes-mcp/hermes-mcp to class public",
        "patch Ingress squaremcp/squaremcp-www-redirect to class public"]
    assert actions[1]["body"] == {"spec": {"ingressClassName": "public"},
                                  "metadata": {"annotations": {ing.ANNOTATION_CLASS: None}}}
    assert actions[2]["body"] == {"spec": {"ingressClassName": "public"}}


def test_alias_plan_keeps_requested_names():
    actions = ing.plan(seed_ingresses(), model("1.34"), "alias", "public")
    assert summary(actions) == [
        "patch Ingress squaremcp/squaremcp-docs to class nginx",
        "patch Ingress hermes-mcp/hermes-mcp to class nginx",
        "patch Ingress squaremcp/squaremcp-www-redirect to class public"]


def test_alias_creates_a_missing_class_first():
    m = model("1.34", lambda classes, _w: classes.pop(1))
    actions = ing.plan(seed_ingresses(), m, "alias", "public")
    assert summary(actions)[0] == "create IngressClass nginx -> k8s.io/ingress-nginx"
    assert actions[0]["body"] == {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                  "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert len(actions) == 4  # the class once, then docs, hermes (annotation -> field) and the classless one


def test_alias_replaces_a_class_that_points_nowhere_and_keeps_its_metadata():
    def repoint(classes, _w):
        classes[1]["spec"]["controller"] = "example.com/retired"
        classes[1]["metadata"]["labels"] = {"team": "web"}
    actions = ing.plan(seed_ingresses(), model("1.34", repoint), "alias", "public")
    assert actions[0]["action"] == "replace" and actions[0]["before"] == {"controller": "example.com/retired"}
    assert actions[0]["body"]["metadata"] == {"name": "nginx", "labels": {"team": "web"}}


def test_alias_refuses_to_take_a_class_from_a_stopped_controller():
    def stopped_twin(classes, workloads):
        classes[1]["spec"]["controller"] = "example.com/other"
        twin = copy.deepcopy(workloads[0])
        twin["metadata"]["name"] = "other"
        twin["spec"]["template"]["spec"]["containers"][0]["args"].append("--controller-class=example.com/other")
        twin["status"]["numberReady"] = 0
        workloads.append(twin)
    with pytest.raises(ing.IngressError, match="IngressClass nginx belongs to ingress/DaemonSet/other, which is not running"):
        # The annotation names the class of a stopped controller that does not take the annotation itself.
        ing.plan([ingress("a", annotation="nginx")], model("1.34", stopped_twin), "alias", "public")


def test_plan_refuses_while_a_controller_is_down():
    def stop(_c, workloads):
        workloads[0]["status"]["numberReady"] = 0
    with pytest.raises(ing.IngressError, match="cannot reconcile while a controller is down"):
        ing.plan([ingress("a", field="public")], model("1.34", stop), "patch", "public")


def test_plan_that_cannot_help_is_refused_before_anything_happens():
    def pin(_c, workloads):
        workloads[0]["spec"]["template"]["spec"]["containers"][0]["args"].append(
            "--providers.kubernetesingress.ingressclass=traefik")
    with pytest.raises(ing.IngressError, match="would leave Ingresses unserved"):
        ing.plan([ingress("a", annotation="legacy")], model("1.35", pin), "alias", "traefik")


@pytest.mark.parametrize("strategy", ["patch", "alias"])
@pytest.mark.parametrize("version", ["1.34", "1.35"])
def test_every_plan_serves_everything_and_a_second_plan_is_empty(version, strategy):
    ingresses, m = seed_ingresses(), model(version)
    actions = ing.plan(ingresses, m, strategy, "public")
    after, new_model = ing.simulate(ingresses, m, actions)
    assert all(d["served"] for d in ing.audit(after, new_model))
    assert ing.plan(after, new_model, strategy, "public") == []
    if version == "1.35":
        assert actions == []  # nothing to fix there: Traefik takes all five


# --- applying ---------------------------------------------------------------------------------

class FakeApi(object):
    def __init__(self, fail_on=None, error=None):
        self.calls = []
        self.fail_on = fail_on or (lambda call: False)
        self.error = error or ing.IngressError("HTTP 500 boom")

    def _record(self, call):
        self.calls.append(call)
        if self.fail_on(call):
            raise self.error

    def patch_ingress(self, namespace, name, body, dry_run):
        self._record(("patch", "%s/%s" % (namespace, name), dry_run))

    def create_ingress_class(self, body, dry_run):
        self._record(("create", body["metadata"]["name"], dry_run))

    def delete_ingress_class(self, name, dry_run):
        self._record(("delete", name, dry_run))


def seed_plan(strategy="patch", edit=None):
    return ing.plan(seed_ingresses(), model("1.34", edit), strategy, "public")


def test_apply_dry_runs_everything_before_changing_anything():
    api = FakeApi()
    applied = ing.apply_plan(api, seed_plan(), check_mode=False)
    assert [c[2] for c in api.calls] == [True, True, True, False, False, False]
    assert len(applied) == 3


def test_check_mode_only_dry_runs():
    api = FakeApi()
    assert ing.apply_plan(api, seed_plan(), check_mode=True) == []
    assert all(c[2] for c in api.calls)


def test_refused_dry_run_changes_nothing():
    api = FakeApi(lambda call: call[1] == "hermes-mcp/hermes-mcp")
    with pytest.raises(ing.ApplyError) as info:
        ing.apply_plan(api, seed_plan(), check_mode=False)
    assert info.value.applied == []
    assert "dry run of patch Ingress hermes-mcp/hermes-mcp to class public: HTTP 500 boom; nothing was changed" \
        in str(info.value)
    assert not any(c[2] is False for c in api.calls)


def test_failure_mid_apply_reports_what_was_applied():
    api = FakeApi(lambda call: call == ("patch", "hermes-mcp/hermes-mcp", False))
    with pytest.raises(ing.ApplyError) as info:
        ing.apply_plan(api, seed_plan(), check_mode=False)
    assert [ing.describe_action(a) for a in info.value.applied] == ["patch Ingress squaremcp/squaremcp-docs to class public"]
    message = str(info.value)
    assert "already applied: patch Ingress squaremcp/squaremcp-docs to class public" in message
    assert "not applied: patch Ingress hermes-mcp/hermes-mcp to class public, patch Ingress " \
        "squaremcp/squaremcp-www-redirect to class public" in message


def test_replace_that_cannot_recreate_says_how_to_recover():
    def repoint(classes, _w):
        classes[1]["spec"]["controller"] = "example.com/retired"
    api = FakeApi(lambda call: call == ("create", "nginx", False))
    with pytest.raises(ing.ApplyError, match="IngressClass nginx was deleted to repoint it, but creating it again "
                                             "failed .* create it by hand with controller k8s.io/ingress-nginx"):
        ing.apply_plan(api, seed_plan("alias", repoint), check_mode=False)
    assert ("delete", "nginx", True) in api.calls and ("create", "nginx", True) not in api.calls


def test_apply_errors_keep_the_http_status_of_the_api():
    error = k8s.KubeError("patching Ingress hermes-mcp/hermes-mcp failed: HTTP 403 forbidden (RBAC denied it)", 403)
    api = FakeApi(lambda call: call == ("patch", "hermes-mcp/hermes-mcp", False), error)
    with pytest.raises(ing.ApplyError) as info:
        ing.apply_plan(api, seed_plan(), check_mode=False)
    assert info.value.status == 403
    assert "patch Ingress hermes-mcp/hermes-mcp to class public: patching Ingress hermes-mcp/hermes-mcp failed: " \
        "HTTP 403 forbidden (RBAC denied it); already applied: " in str(info.value)


@pytest.mark.parametrize("call, fault, status, message", [
    (lambda api: api.ingress_classes(), dict(method="GET", path="/ingressclasses$", status=500), 500,
     "listing IngressClasses failed: HTTP 500"),
    (lambda api: api.workloads(["ingress"]), dict(method="GET", path="/namespaces/ingress/daemonsets$", status=503),
     503, "listing DaemonSets in namespace ingress failed: HTTP 503"),
    (lambda api: api.patch_ingress("apps", "web", {"spec": {"ingressClassName": "public"}}, True), None, 404,
     "patching Ingress apps/web failed: HTTP 404"),
])
def test_cluster_calls_raise_the_shared_kube_error_with_its_status(kube, kube_client, call, fault, status, message):
    if fault:
        kube.fail(times=None, **fault)
    with pytest.raises(k8s.KubeError) as info:
        call(ing.KubeIngressApi(kube_client, request_timeout=5))
    assert info.value.status == status and message in str(info.value)

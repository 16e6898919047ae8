"""kubernetes.core.k8s / k8s_info (the real modules, via ansible-playbook) against the double."""

from __future__ import annotations

import pytest

from tests.kube.playbook import run_playbook

pytestmark = pytest.mark.slow

SECRET = {"apiVersion": "v1", "kind": "Secret",
          "metadata": {"name": "app", "namespace": "web", "labels": {"app": "web"}},
          "stringData": {"password": "s3cret"}}
SEALED = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
          "metadata": {"name": "app", "namespace": "web"},
          "spec": {"encryptedData": {"password": "AgB1"}, "template": {"metadata": {"name": "app"}}}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "web"},
              "spec": {"selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}


def present(*definitions):
    return [{"name": "present %s" % d["kind"], "kubernetes.core.k8s": {"state": "present", "definition": d}}
            for d in definitions]


def test_state_present_check_mode_then_create_then_idempotent(kube, tmp_path):
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}})
    tasks = present(SECRET, SEALED, DEPLOYMENT)

    checked = run_playbook(kube, tmp_path, tasks, check=True)
    assert checked.rc == 0, checked.stdout
    assert [r["changed"] for dummy, r in checked.tasks] == [True, True, True]
    assert kube.get("v1", "Secret", "app", "web") is None and kube.get("apps/v1", "Deployment", "web", "web") is None
    posts = kube.requests_matching("POST")
    assert len(posts) == 3 and all(r.query.get("dryRun") == "All" for r in posts)
    assert checked.task(0)["result"]["metadata"]["uid"]  # the would-be object came from the server

    created = run_playbook(kube, tmp_path, tasks)
    assert [r["changed"] for dummy, r in created.tasks] == [True, True, True], created.stdout
    stored = kube.get("v1", "Secret", "app", "web")
    assert stored["data"] == {"password": "czNjcmV0"}
    versions = {kind: kube.get(v, kind, n, "web")["metadata"]["resourceVersion"]
                for v, kind, n in (("v1", "Secret", "app"), ("bitnami.com/v1alpha1", "SealedSecret", "app"),
                                   ("apps/v1", "Deployment", "web"))}

    kube.clear_requests()
    again = run_playbook(kube, tmp_path, tasks)
    assert [r["changed"] for dummy, r in again.tasks] == [False, False, False], again.stdout
    assert {kind: kube.get(v, kind, n, "web")["metadata"]["resourceVersion"]
            for v, kind, n in (("v1", "Secret", "app"), ("bitnami.com/v1alpha1", "SealedSecret", "app"),
                               ("apps/v1", "Deployment", "web"))} == versions
    # built-ins are patched with strategic merge; the custom resource gets 415 and is retried as merge patch
    patches = [(r.path.rsplit("/", 1)[-1], r.content_type, r.status) for r in kube.requests_matching("PATCH")]
    assert ("app", "application/strategic-merge-patch+json", 415) in patches
    assert ("app", "application/merge-patch+json", 200) in patches
    assert ("web", "application/strategic-merge-patch+json", 200) in patches


def test_update_check_mode_apply_and_server_side_apply(kube, tmp_path):
    kube.create(SEALED)
    kube.create(DEPLOYMENT)
    changed_image = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "template": {
        "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
    sealed_v2 = {**SEALED, "spec": {"encryptedData": {"password": "AgB2"}}}
    tasks = [
        {"name": "update in check mode", "check_mode": True,
         "kubernetes.core.k8s": {"state": "present", "definition": changed_image}},
        {"name": "apply", "kubernetes.core.k8s": {"state": "present", "apply": True, "definition": changed_image}},
        {"name": "server side apply", "kubernetes.core.k8s": {
            "state": "present", "apply": True, "definition": sealed_v2, "server_side_apply": {"field_manager": "tests", "force_conflicts": True}}},
    ]
    result = run_playbook(kube, tmp_path, tasks, diff=True)
    assert result.rc == 0, result.stdout
    assert result.task("update in check mode")["changed"] is True
    assert result.task("apply")["changed"] is True
    assert kube.get("apps/v1", "Deployment", "web", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "nginx:1.27")
    assert kube.get("apps/v1", "Deployment", "web", "web")["metadata"]["generation"] == 2
    assert result.task("server side apply")["changed"] is True
    assert kube.get("bitnami.com/v1alpha1", "SealedSecret", "app", "web")["spec"]["encryptedData"] == {
        "password": "AgB2"}
    applies = kube.requests_matching("PATCH", r"/sealedsecrets/app$")
    assert applies[-1].content_type == "application/apply-patch+yaml"
    assert applies[-1].query["fieldManager"] == "tests" and applies[-1].query["force"] in ("true", "True")
    dry = [r for r in kube.requests_matching("PATCH", r"/deployments/web$") if r.query.get("dryRun") == "All"]
    assert dry, "check mode must send dryRun=All"


def test_info_selectors_absent_and_error_messages(kube, tmp_path):
    for name, labels, kind in (("a", {"app": "web"}, "kubernetes.io/tls"), ("b", {"app": "web"}, "Opaque"),
                               ("c", {"app": "db"}, "kubernetes.io/tls")):
        kube.create({"apiVersion": "v1", "kind": "Secret", "type": kind,
                     "metadata": {"name": name, "namespace": "web", "labels": labels}})
    kube.deny(verb="list", resource="secrets", namespace="kube-system")
    tasks = [
        {"name": "selectors", "kubernetes.core.k8s_info": {
            "kind": "Secret", "namespace": "web", "label_selectors": ["app=web"],
            "field_selectors": ["type=kubernetes.io/tls"]}},
        {"name": "denied", "ignore_errors": True, "kubernetes.core.k8s_info": {"kind": "Secret", "namespace": "kube-system"}},
        {"name": "missing namespace", "ignore_errors": True, "kubernetes.core.k8s": {
            "state": "present", "definition": {**SECRET, "metadata": {"name": "x", "namespace": "nope"}}}},
        {"name": "absent", "kubernetes.core.k8s": {"state": "absent", "kind": "Secret", "namespace": "web", "name": "b"}},
        {"name": "absent again", "kubernetes.core.k8s": {"state": "absent", "kind": "Secret", "namespace": "web", "name": "b"}},
        {"name": "unknown kind", "kubernetes.core.k8s_info": {"kind": "Widget", "api_version": "example.com/v1"}},
    ]
    result = run_playbook(kube, tmp_path, tasks)
    assert [r["metadata"]["name"] for r in result.task("selectors")["resources"]] == ["a"]
    denied = result.task("denied")
    assert denied["failed"] and ('secrets is forbidden: User \\"system:anonymous\\" cannot list resource \\"secrets\\" '
                                 'in API group \\"\\" in the namespace \\"kube-system\\"') in denied["msg"]
    missing = result.task("missing namespace")
    assert missing["failed"] and 'namespaces \\"nope\\" not found' in missing["msg"]
    assert result.task("absent")["changed"] and not result.task("absent again")["changed"]
    assert kube.get("v1", "Secret", "b", "web") is None and kube.get("v1", "Secret", "a", "web")
    assert result.task("unknown kind")["api_found"] is False

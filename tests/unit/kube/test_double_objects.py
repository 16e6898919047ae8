"""Object semantics of the double, driven only through the real client's typed APIs and DynamicClient."""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


def status_of(exc):
    return json.loads(exc.value.body)


def deployment(name="web", image="nginx:1.25", env=None):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image, "env": env or []},
                                                      {"name": "sidecar", "image": "busybox:1.36"}]}}},
    }


@pytest.fixture
def core(kube_client):
    return client.CoreV1Api(kube_client)


@pytest.fixture
def custom(kube_client):
    return client.CustomObjectsApi(kube_client)


def sealed(name, **spec):
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": name},
            "spec": {"encryptedData": spec or {"password": "AgBy..."}}}


# -- create / get ---------------------------------------------------------------------------


def test_create_sets_server_fields_and_folds_string_data(core):
    created = core.create_namespaced_secret("default", {"metadata": {"name": "db"}, "stringData": {"pw": "s3cret"}})
    assert created.data == {"pw": base64.b64encode(b"s3cret").decode()}
    assert created.string_data is None and created.type == "Opaque"
    assert created.metadata.uid and created.metadata.creation_timestamp and int(created.metadata.resource_version)
    assert created.metadata.namespace == "default"
    read = core.read_namespaced_secret("db", "default")
    assert read.to_dict() == created.to_dict()


def test_create_existing_is_409_already_exists(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    assert caught.value.status == 409
    assert status_of(caught) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                 "message": 'configmaps "cm" already exists', "reason": "AlreadyExists",
                                 "details": {"name": "cm", "kind": "configmaps"}, "code": 409}


def test_create_in_missing_namespace_is_404_for_the_namespace(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret("nowhere", {"metadata": {"name": "s"}})
    assert caught.value.status == 404
    assert status_of(caught)["message"] == 'namespaces "nowhere" not found'


def test_get_missing_names_group_and_resource(kube_client):
    with pytest.raises(ApiException) as caught:
        client.NetworkingV1Api(kube_client).read_namespaced_ingress("gone", "default")
    body = status_of(caught)
    assert (caught.value.status, body["reason"]) == (404, "NotFound")
    assert body["message"] == 'ingresses.networking.k8s.io "gone" not found'
    assert body["details"] == {"name": "gone", "group": "networking.k8s.io", "kind": "ingresses"}


def test_invalid_names_and_missing_names_are_422(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Not_Valid"}})
    assert caught.value.status == 422 and status_of(caught)["reason"] == "Invalid"
    assert 'ConfigMap "Not_Valid" is invalid: metadata.name' in status_of(caught)["message"]
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {}})
    assert "name or generateName is required" in status_of(caught)["message"]


def test_generate_name_gets_a_random_suffix(core):
    created = core.create_namespaced_config_map("default", {"metadata": {"generateName": "job-"}})
    assert created.metadata.name.startswith("job-") and len(created.metadata.name) == 9


def test_bad_base64_in_secret_data_is_400(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_secret("default", {"metadata": {"name": "s"}, "data": {"k": "not base64!"}})
    assert caught.value.status == 400 and "illegal base64 data" in status_of(caught)["message"]


def test_cluster_scoped_create_and_namespace_defaults(core, kube_client):
    ns = core.create_namespace({"metadata": {"name": "apps"}})
    assert ns.status.phase == "Active" and ns.metadata.labels == {"kubernetes.io/metadata.name": "apps"}
    ic = client.NetworkingV1Api(kube_client).create_ingress_class(
        {"metadata": {"name": "public"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
    assert ic.metadata.namespace is None and ic.metadata.generation == 1


def test_service_gets_a_cluster_ip_that_survives_replace(core):
    svc = core.create_namespaced_service("default", {"metadata": {"name": "api"}, "spec": {"ports": [{"port": 80}]}})
    assert svc.spec.cluster_ip.startswith("10.152.183.") and svc.spec.ports[0].target_port == 80
    body = {"metadata": {"name": "api", "resourceVersion": svc.metadata.resource_version},
            "spec": {"ports": [{"port": 8080}]}}
    replaced = core.replace_namespaced_service("api", "default", body)
    assert replaced.spec.cluster_ip == svc.spec.cluster_ip and replaced.spec.ports[0].port == 8080


# -- list -----------------------------------------------------------------------------------


@pytest.fixture
def labelled(kube):
    for name, labels in (("a", {"app": "web", "tier": "front"}), ("b", {"app": "web", "tier": "back"}),
                         ("c", {"app": "db"}), ("d", {})):
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}})


@pytest.mark.parametrize("selector, names", [
    ("app=web", ["a", "b"]),
    ("app==web,tier=back", ["b"]),
    ("app!=web", ["c", "d"]),
    ("tier in (front,back)", ["a", "b"]),
    ("app notin (web)", ["c", "d"]),
    ("tier", ["a", "b"]),
    ("!tier", ["c", "d"]),
    ("app in (web, db),!tier", ["c"]),
])
def test_label_selectors(core, labelled, selector, names):
    items = core.list_namespaced_config_map("default", label_selector=selector).items
    assert [i.metadata.name for i in items] == names


def test_malformed_label_selector_is_400(core, labelled):
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", label_selector="app in web")
    assert caught.value.status == 400 and status_of(caught)["reason"] == "BadRequest"


def test_field_selectors_and_all_namespaces(core, kube):
    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "web"},
                 "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}})
    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain", "namespace": "web"}})
    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "other"},
                 "type": "kubernetes.io/tls"})
    tls = core.list_secret_for_all_namespaces(field_selector="type=kubernetes.io/tls").items
    assert [(s.metadata.namespace, s.metadata.name) for s in tls] == [("other", "tls"), ("web", "tls")]
    named = core.list_namespaced_secret("web", field_selector="metadata.name!=tls").items
    assert [s.metadata.name for s in named] == ["plain"]
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret("web", field_selector="spec.nope=1")
    assert status_of(caught)["message"] == "field label not supported: spec.nope"


def test_pagination_with_limit_and_continue(core, kube):
    for n in range(5):
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm%d" % n}})
    seen, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map("default", limit=2, _continue=token)
        pages += 1
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if pages == 1:
            assert page.metadata.remaining_item_count == 3
        if not token:
            break
    assert pages == 3 and seen == ["cm0", "cm1", "cm2", "cm3", "cm4"]
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", limit=2, _continue="garbage!")
    assert caught.value.status == 400


def test_list_items_carry_kind_only_for_custom_resources(kube_client, kube):
    kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})
    kube.create(sealed("s"))
    raw = client.CoreV1Api(kube_client).list_namespaced_config_map("default", _preload_content=False)
    body = json.loads(raw.data)
    assert body["kind"] == "ConfigMapList" and "kind" not in body["items"][0]
    crs = client.CustomObjectsApi(kube_client).list_namespaced_custom_object(
        "bitnami.com", "v1alpha1", "default", "sealedsecrets")
    assert crs["kind"] == "SealedSecretList" and crs["items"][0]["kind"] == "SealedSecret"


# -- replace --------------------------------------------------------------------------------


def test_replace_with_stale_resource_version_is_409_conflict(core):
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    first = created.to_dict()
    first["data"] = {"a": "2"}
    updated = core.replace_namespaced_config_map("cm", "default", first)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    stale = created.to_dict()
    stale["data"] = {"a": "3"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("cm", "default", stale)
    assert caught.value.status == 409 and status_of(caught)["reason"] == "Conflict"
    assert status_of(caught)["message"] == ('Operation cannot be fulfilled on configmaps "cm": the object has been '
                                            "modified; please apply your changes to the latest version and try again")
    assert core.read_namespaced_config_map("cm", "default").data == {"a": "2"}


def test_replace_of_custom_resource_needs_resource_version(custom):
    custom.create_namespaced_custom_object("bitnami.com", "v1alpha1", "default", "sealedsecrets", sealed("s"))
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object("bitnami.com", "v1alpha1", "default", "sealedsecrets", "s",
                                                sealed("s", password="new"))
    assert caught.value.status == 422 and "must be specified for an update" in status_of(caught)["message"]


def test_replace_name_mismatch_is_400(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("cm", "default", {"metadata": {"name": "other"}})
    assert caught.value.status == 400 and "does not match the name on the URL" in status_of(caught)["message"]


# -- patch ----------------------------------------------------------------------------------


def test_strategic_merge_merges_containers_and_env_by_name(kube_client, kube):
    kube.create(deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    apps = client.AppsV1Api(kube_client)
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.27", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}}})
    assert kube.requests[-1].content_type == "application/strategic-merge-patch+json"
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["app", "sidecar"]
    assert containers[0].image == "nginx:1.27"
    assert [(e.name, e.value) for e in containers[0].env] == [("A", "1"), ("B", "3"), ("C", "4")]
    assert patched.metadata.generation == 2


def test_strategic_merge_directives_delete_and_replace(kube_client, kube):
    kube.create(deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    apps = client.AppsV1Api(kube_client)
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"},
        {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}}})
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["app"] and [e.name for e in containers[0].env] == ["B"]


def test_merge_patch_replaces_lists_and_null_deletes(kube_client, kube):
    kube.create(deployment())
    apps = client.AppsV1Api(kube_client)
    patched = apps.patch_namespaced_deployment("web", "default", {
        "metadata": {"labels": {"team": "a"}},
        "spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x:1"}]}}}}, _content_type=MERGE)
    assert [c.name for c in patched.spec.template.spec.containers] == ["only"]
    removed = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"team": None}}},
                                               _content_type=MERGE)
    assert not removed.metadata.labels


def test_json_patch_operations(core):
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}})
    patched = core.patch_namespaced_config_map("cm", "default", [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/c", "value": "3"},
        {"op": "remove", "path": "/data/b"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "copy", "from": "/data/a", "path": "/data/d"},
        {"op": "move", "from": "/data/c", "path": "/data/e"},
        {"op": "add", "path": "/metadata/labels", "value": {}},
        {"op": "add", "path": "/metadata/labels/example.com~1team", "value": "ops"},
    ])
    assert patched.data == {"a": "10", "d": "10", "e": "3"}
    assert patched.metadata.labels == {"example.com/team": "ops"}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", "default", [{"op": "test", "path": "/data/a", "value": "1"}])
    assert caught.value.status == 422 and "test failed" in status_of(caught)["message"]
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", "default", [{"op": "remove", "path": "/data/zzz"}])
    assert caught.value.status == 422


def test_strategic_merge_is_415_for_custom_resources_and_merge_works(custom, kube_client):
    custom.create_namespaced_custom_object("bitnami.com", "v1alpha1", "default", "sealedsecrets", sealed("s"))
    dynamic = DynamicClient(kube_client).resources.get(api_version="bitnami.com/v1alpha1", kind="SealedSecret")
    with pytest.raises(ApiException) as caught:
        dynamic.patch(name="s", namespace="default", body={"spec": {"encryptedData": {"b": "x"}}})
    assert caught.value.status == 415 and status_of(caught)["reason"] == "UnsupportedMediaType"
    assert "application/strategic-merge-patch+json" not in status_of(caught)["message"]
    patched = custom.patch_namespaced_custom_object("bitnami.com", "v1alpha1", "default", "sealedsecrets", "s",
                                                    {"spec": {"encryptedData": {"b": "x"}}})
    assert patched["spec"]["encryptedData"] == {"password": "AgBy...", "b": "x"}
    assert patched["metadata"]["generation"] == 2


def test_server_side_apply_creates_then_merges(core, kube):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}
    created = core.patch_namespaced_config_map("cm", "default", body, field_manager="tests", force=True,
                                               _content_type=APPLY)
    assert created.data == {"a": "1"}
    request = kube.requests[-1]
    assert (request.status, request.query["fieldManager"], request.query["force"]) == (201, "tests", "true")
    body["data"] = {"b": "2"}
    applied = core.patch_namespaced_config_map("cm", "default", body, field_manager="tests", _content_type=APPLY)
    assert applied.data == {"a": "1", "b": "2"}
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_config_map("cm", "default", body, _content_type=APPLY)
    assert caught.value.status == 422 and "fieldManager: Required value" in status_of(caught)["message"]


def test_no_op_patch_keeps_resource_version_and_generation(kube_client, kube):
    stored = kube.create(deployment())
    apps = client.AppsV1Api(kube_client)
    same = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}})
    assert same.metadata.resource_version == stored["metadata"]["resourceVersion"]
    assert same.metadata.generation == 1
    label_only = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"a": "b"}}})
    assert label_only.metadata.generation == 1 and label_only.metadata.resource_version != same.metadata.resource_version


def test_patch_of_missing_object_is_404(core):
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_secret("nope", "default", {"metadata": {"labels": {"a": "b"}}})
    assert caught.value.status == 404 and status_of(caught)["message"] == 'secrets "nope" not found'


def test_status_is_only_written_through_the_status_subresource(kube_client, kube):
    kube.create(deployment())
    apps = client.AppsV1Api(kube_client)
    ignored = apps.patch_namespaced_deployment("web", "default", {"status": {"replicas": 5}})
    assert ignored.status is None or ignored.status.replicas is None
    written = apps.patch_namespaced_deployment_status("web", "default", {"status": {"replicas": 5}})
    assert written.status.replicas == 5
    assert apps.read_namespaced_deployment("web", "default").status.replicas == 5


# -- dry run --------------------------------------------------------------------------------


def test_dry_run_never_persists(core, kube):
    would = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"a": "1"}},
                                              dry_run="All")
    assert would.data == {"a": "1"} and would.metadata.uid and not would.metadata.resource_version
    assert kube.get("v1", "ConfigMap", "cm") is None

    stored = kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}})
    patched = core.patch_namespaced_config_map("cm", "default", {"data": {"a": "2"}}, dry_run="All")
    assert patched.data == {"a": "2"}
    replaced = core.replace_namespaced_config_map("cm", "default", {"metadata": {"name": "cm"}, "data": {"a": "3"}},
                                                  dry_run="All")
    assert replaced.data == {"a": "3"}
    core.delete_namespaced_config_map("cm", "default", dry_run="All")
    assert kube.get("v1", "ConfigMap", "cm") == stored
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map("cm", "default", dry_run="Some")
    assert caught.value.status == 422


# -- delete ---------------------------------------------------------------------------------


def test_delete_answers_status_for_builtins_and_the_object_for_custom_resources(core, custom, kube):
    created = core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    status = core.delete_namespaced_secret("s", "default")
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"] == {"name": "s", "kind": "secrets", "uid": created.metadata.uid}
    assert kube.get("v1", "Secret", "s") is None
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_secret("s", "default")
    assert caught.value.status == 404

    custom.create_namespaced_custom_object("bitnami.com", "v1alpha1", "default", "sealedsecrets", sealed("ss"))
    deleted = custom.delete_namespaced_custom_object("bitnami.com", "v1alpha1", "default", "sealedsecrets", "ss")
    assert deleted["kind"] == "SealedSecret" and deleted["metadata"]["name"] == "ss"


def test_finalizers_delay_deletion_until_removed(core, kube):
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm", "finalizers": ["example.com/keep"]}})
    core.delete_namespaced_config_map("cm", "default")
    pending = core.read_namespaced_config_map("cm", "default")
    assert pending.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("cm", "default", {"metadata": {"finalizers": None}})
    assert kube.get("v1", "ConfigMap", "cm") is None


def test_deleting_a_namespace_removes_its_objects(core, kube):
    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "gone"}})
    deleted = core.delete_namespace("gone")
    assert deleted["kind"] == "Namespace" and deleted["status"]["phase"] == "Terminating"
    assert kube.list("v1", "Secret", namespace="gone") == []
    assert kube.get("v1", "Namespace", "gone") is None


def test_delete_collection_with_selector(core, kube):
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": app}}})
    core.delete_collection_namespaced_config_map("default", label_selector="app=x")
    assert [o["metadata"]["name"] for o in kube.list("v1", "ConfigMap")] == ["c"]


# -- Python-side helpers --------------------------------------------------------------------


def test_python_helpers_round_trip(kube, tmp_path):
    path = tmp_path / "objects.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "fresh"}, "stringData": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh", "labels": {"team": "x"}}},
    ]}))
    loaded = kube.load(str(path))
    assert [o["kind"] for o in loaded] == ["Namespace", "Secret"]
    assert kube.get("v1", "Namespace", "fresh")["metadata"]["labels"]["team"] == "x"
    assert kube.get("v1", "Secret", "s", "fresh")["data"] == {"a": "Yg=="}
    kube.set_status("v1", "Namespace", "fresh", {"phase": "Terminating"})
    assert kube.get("v1", "Namespace", "fresh")["status"] == {"phase": "Terminating"}
    assert kube.delete("v1", "Secret", "s", "fresh") and not kube.delete("v1", "Secret", "s", "fresh")
    kube.reset()
    assert kube.get("v1", "Namespace", "fresh") is None and kube.get("v1", "Namespace", "default")


# -- validation -----------------------------------------------------------------------------


def test_immutable_fields_are_422_on_update(kube_client, kube):
    kube.create({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "public"},
                 "spec": {"controller": "k8s.io/ingress-nginx"}})
    networking = client.NetworkingV1Api(kube_client)
    with pytest.raises(ApiException) as caught:
        networking.patch_ingress_class("public", {"spec": {"controller": "traefik.io/ingress-controller"}})
    assert caught.value.status == 422
    assert status_of(caught)["message"] == ('IngressClass.networking.k8s.io "public" is invalid: spec.controller: '
                                            'Invalid value: "traefik.io/ingress-controller": field is immutable')
    annotated = networking.patch_ingress_class("public", {"metadata": {"annotations": {
        "ingressclass.kubernetes.io/is-default-class": "true"}}})
    assert annotated.spec.controller == "k8s.io/ingress-nginx"
    kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "kubernetes.io/tls"})
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(kube_client).patch_namespaced_secret("s", "default", {"type": "Opaque"})
    assert caught.value.status == 422 and "type: Invalid value" in status_of(caught)["message"]


def test_invalid_label_values_are_422(core):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {"name": "cm", "labels": {"a": "not ok"}}})
    assert caught.value.status == 422 and "metadata.labels" in status_of(caught)["message"]


def test_load_reads_multi_document_yaml(kube, tmp_path):
    path = tmp_path / "objects.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, namespace: other}\n")
    assert [o["metadata"]["namespace"] for o in kube.load(path)] == ["default", "other"]
    assert kube.get("v1", "Namespace", "other") is not None

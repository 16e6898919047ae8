"""Discovery documents of the double, read through the real client's typed models and DynamicClient."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Cluster",
        "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


def test_version_and_api_versions_parse_into_typed_models(kube_client):
    version = client.VersionApi(kube_client).get_code()
    assert version.major == "1" and version.git_version.startswith("v1.")
    assert client.CoreApi(kube_client).get_api_versions().versions == ["v1"]


def test_api_group_list_has_preferred_versions(kube_client):
    groups = {g.name: g for g in client.ApisApi(kube_client).get_api_versions().groups}
    assert {"apps", "networking.k8s.io", "apiextensions.k8s.io", "bitnami.com", "cert-manager.io"} <= set(groups)
    assert groups["networking.k8s.io"].preferred_version.group_version == "networking.k8s.io/v1"
    assert client.NetworkingApi(kube_client).get_api_group().name == "networking.k8s.io"


def test_resource_lists_describe_scope_verbs_and_short_names(kube_client):
    core = {r.name: r for r in client.CoreV1Api(kube_client).get_api_resources().resources}
    assert core["secrets"].namespaced and core["secrets"].kind == "Secret"
    assert not core["namespaces"].namespaced and core["namespaces"].short_names == ["ns"]
    assert core["services/proxy"].kind == "ServiceProxyOptions"
    networking = {r.name: r for r in client.NetworkingV1Api(kube_client).get_api_resources().resources}
    assert networking["ingresses"].short_names == ["ing"] and networking["ingresses"].singular_name == "ingress"
    assert not networking["ingressclasses"].namespaced
    assert "patch" in networking["ingressclasses"].verbs


def test_unknown_group_version_is_a_404_status(kube_client):
    with pytest.raises(ApiException) as caught:
        client.CustomObjectsApi(kube_client).get_api_resources("nothing.example.com", "v1")
    assert caught.value.status == 404
    assert "the server could not find the requested resource" in caught.value.body
    assert client.CustomObjectsApi(kube_client).get_api_resources("cert-manager.io", "v1").group_version == (
        "cert-manager.io/v1")


def test_dynamic_client_discovers_builtin_and_custom_kinds(kube_client):
    dynamic = DynamicClient(kube_client)
    ingress = dynamic.resources.get(api_version="networking.k8s.io/v1", kind="Ingress")
    assert ingress.namespaced and ingress.name == "ingresses"
    sealed = dynamic.resources.get(api_version="bitnami.com/v1alpha1", kind="SealedSecret")
    assert sealed.namespaced and "status" in sealed.subresources
    assert dynamic.resources.get(api_version="v1", short_names=["svc"]).kind == "Service"


def test_creating_a_crd_serves_its_kind_and_deleting_it_withdraws_it(kube, kube_client):
    dynamic = DynamicClient(kube_client)
    with pytest.raises(ResourceNotFoundError):
        dynamic.resources.get(api_version="example.com/v1", kind="Widget")
    client.ApiextensionsV1Api(kube_client).create_custom_resource_definition(WIDGET_CRD)
    widgets = dynamic.resources.get(api_version="example.com/v1", kind="Widget")  # the client re-discovers
    assert not widgets.namespaced
    widgets.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"a": 1}})
    assert kube.get("example.com/v1", "Widget", "w1")["spec"] == {"a": 1}

    client.ApiextensionsV1Api(kube_client).delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as caught:
        client.CustomObjectsApi(kube_client).list_cluster_custom_object("example.com", "v1", "widgets")
    assert caught.value.status == 404
    assert "example.com" not in {g.name for g in client.ApisApi(kube_client).get_api_versions().groups}


def test_crds_can_be_left_out(tmp_path):
    from tests.kube.double import KubeDouble

    double = KubeDouble(crds=["sealedsecrets.bitnami.com"])
    assert [k.kind for k in double.kinds() if k.custom] == ["SealedSecret"]
    assert double.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "sealedsecrets.bitnami.com")

"""Test controls of the double (RBAC denials, faults, service proxy, request log) seen by the real client."""

from __future__ import annotations

import json
import time

import kubernetes
import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient


@pytest.fixture
def core(kube_client):
    return client.CoreV1Api(kube_client)


def status_of(exc):
    return json.loads(exc.value.body)


# -- RBAC denials ---------------------------------------------------------------------------


def test_denied_list_has_the_api_servers_wording(core, kube):
    kube.deny(verb="list", resource="secrets", namespace="kube-system")
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_secret("kube-system")
    assert caught.value.status == 403
    assert status_of(caught) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets is forbidden: User "system:anonymous" cannot list resource "secrets" in API group "" '
                   'in the namespace "kube-system"',
        "reason": "Forbidden", "details": {"kind": "secrets"}, "code": 403}
    assert core.list_namespaced_secret("default").items == []  # other namespaces still allowed


def test_denied_named_get_cluster_scope_and_group(kube_client, kube):
    kube.deny(verb="get", resource="ingressclasses", group="networking.k8s.io")
    kube.create({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "public"}})
    with pytest.raises(ApiException) as caught:
        client.NetworkingV1Api(kube_client).read_ingress_class("public")
    assert status_of(caught)["message"] == (
        'ingressclasses.networking.k8s.io "public" is forbidden: User "system:anonymous" cannot get resource '
        '"ingressclasses" in API group "networking.k8s.io" at the cluster scope')
    assert client.NetworkingV1Api(kube_client).list_ingress_class().items[0].metadata.name == "public"


def test_denial_of_a_subresource_and_limited_times(core, kube):
    kube.service_proxy("kube-system", "ctrl", "/healthz", b"ok")
    denial = kube.deny(verb="get", resource="services/proxy", times=1)
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("ctrl", "kube-system", "healthz")
    assert 'cannot get resource "services/proxy"' in status_of(caught)["message"]
    assert core.connect_get_namespaced_service_proxy_with_path("ctrl", "kube-system", "healthz") == "ok"
    assert denial.hits == 1


def test_user_name_is_configurable(tmp_path):
    from tests.kube.double import KubeDouble

    with KubeDouble(user="ops", workdir=tmp_path) as double:
        double.deny(verb="create")
        api = kubernetes.config.new_client_from_config(config_file=double.kubeconfig_path, persist_config=False)
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(api).create_namespace({"metadata": {"name": "x"}})
        assert 'User "ops" cannot create resource "namespaces"' in status_of(caught)["message"]
        api.close()


# -- faults ---------------------------------------------------------------------------------


def test_status_fault_is_consumed_after_n_times(core, kube):
    fault = kube.fail("GET", r"/secrets$", status=500, times=2)
    for attempt in (1, 2):
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_secret("default")
        assert caught.value.status == 500 and status_of(caught)["reason"] == "InternalError", attempt
    assert core.list_namespaced_secret("default").items == []
    assert (fault.hits, fault.remaining) == (2, 0)
    assert kube.faults == [fault]


def test_fault_with_custom_status_message_and_reason(core, kube):
    kube.fail("POST", status=503, message="etcdserver: leader changed", reason="ServiceUnavailable")
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    assert caught.value.status == 503
    assert status_of(caught)["message"] == "etcdserver: leader changed"
    assert kube.get("v1", "ConfigMap", "cm") is None


def test_hang_makes_the_client_time_out(core, kube):
    # urllib3 retries a timed-out GET three times by default: every attempt must hang
    kube.fail("GET", r"/configmaps$", hang=5, times=None)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.MaxRetryError) as caught:
        core.list_namespaced_config_map("default", _request_timeout=0.2)
    assert isinstance(caught.value.reason, urllib3.exceptions.ReadTimeoutError)
    assert time.monotonic() - started < 3
    assert len(kube.requests_matching("GET", r"/configmaps$")) == 4
    kube.faults.clear()
    assert core.list_namespace().items  # other requests were served meanwhile


def test_dropped_connection_is_retried_for_get_but_not_for_post(core, kube):
    kube.fail("GET", r"/secrets$", drop=True, times=1)
    assert core.list_namespaced_secret("default").items == []
    assert len(kube.requests_matching("GET", r"/secrets$")) == 2
    kube.fail("POST", drop=True, times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    assert kube.requests[-1].status is None
    kube.fail("GET", r"/secrets$", drop=True, times=4)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespaced_secret("default")


def test_fault_on_the_nth_page_of_a_list(core, kube):
    for n in range(5):
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm%d" % n}})
    kube.fail("GET", r"/configmaps$", status=500, page=2)
    first = core.list_namespaced_config_map("default", limit=2)
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert caught.value.status == 500
    second = core.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert [i.metadata.name for i in second.items] == ["cm2", "cm3"]


def test_faults_reach_the_dynamic_client_discovery(kube_client, kube):
    kube.fail("GET", r"^/apis$", status=503, times=1)
    with pytest.raises(Exception) as caught:
        DynamicClient(kube_client)
    assert "503" in str(caught.value)
    assert DynamicClient(kube_client).resources.get(api_version="v1", kind="Secret").name == "secrets"


# -- service proxy --------------------------------------------------------------------------


def test_service_proxy_serves_registered_bytes_with_their_content_type(core, kube):
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    route = kube.service_proxy("kube-system", "sealed-secrets-controller", "/v1/cert.pem", pem,
                               "application/x-pem-file")
    answer = core.connect_get_namespaced_service_proxy_with_path(
        "http:sealed-secrets-controller:http", "kube-system", "v1/cert.pem", _preload_content=False)
    assert (answer.status, answer.data, answer.headers["Content-Type"]) == (200, pem, "application/x-pem-file")
    assert kube.requests[-1].path == ("/api/v1/namespaces/kube-system/services/"
                                      "http%3Asealed-secrets-controller%3Ahttp/proxy/v1%2Fcert.pem")
    assert route.hits == 1
    assert kube.get("v1", "Service", "sealed-secrets-controller", "kube-system")["spec"]["ports"][0]["name"] == "http"


def test_service_proxy_handler_backend_404_and_missing_endpoints(core, kube):
    seen = []
    kube.service_proxy("apps", "api", "/v1/verify", handler=lambda request: seen.append(request.method) or (
        409, "text/plain", b"conflict"))
    kube.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "idle", "namespace": "apps"},
                 "spec": {"ports": [{"port": 80}]}})
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("api", "apps", "v1/verify", _preload_content=False)
    assert (caught.value.status, caught.value.body, seen) == (409, "conflict", ["GET"])
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("api", "apps", "nothing-here")
    assert caught.value.status == 404 and caught.value.body == "404 page not found\n"
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("idle", "apps", "x")
    assert caught.value.status == 503
    assert status_of(caught)["message"] == 'no endpoints available for service "idle"'
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("http:api:metrics", "apps", "v1/verify")
    assert caught.value.status == 503
    with pytest.raises(ApiException) as caught:
        core.connect_get_namespaced_service_proxy_with_path("missing", "apps", "x")
    assert caught.value.status == 404 and status_of(caught)["message"] == 'services "missing" not found'


# -- request log ----------------------------------------------------------------------------


def test_request_log_records_method_path_query_content_type_and_body(core, kube):
    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}}, dry_run="All")
    request = kube.requests[-1]
    assert (request.method, request.path, request.query) == ("POST", "/api/v1/namespaces/default/configmaps",
                                                             {"dryRun": "All"})
    assert request.content_type is None  # the typed client sends POST bodies without Content-Type
    assert request.json == {"metadata": {"name": "cm"}} and request.status == 201
    kube.clear_requests()
    assert kube.requests == []

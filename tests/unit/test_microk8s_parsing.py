# -*- coding: utf-8 -*-
"""Recorded microk8s outputs (tests/fixtures/microk8s) and the role's decisions on them."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import microk8s as mk

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "microk8s")
TOKEN = "4f3b2a1c9d8e7f6a5b4c3d2e1f0a9b8c/5e8f1a2b3c4d"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def daemonset(version):
    with open(os.path.join(FIXTURES, "layout-%s.yaml" % version)) as handle:
        return [o for o in yaml.safe_load_all(handle) if o and o["kind"] == "DaemonSet"][0]


# --- status -----------------------------------------------------------------------------------

def test_single_node_status():
    status = mk.parse_status(fixture("status-1.34-single.txt"))
    assert status["running"] is True and status["worker"] is False
    assert status["ha"] == {"enabled": True, "nodes": [{"address": "192.0.2.10:19001", "role": "voter"}]}
    assert status["enabled"] == ["cert-manager", "dns", "ha-cluster", "helm", "helm3", "ingress"]
    assert "registry" in status["disabled"]
    rbac = [a for a in status["addons"] if a["name"] == "rbac"][0]
    assert rbac == {"name": "rbac", "repository": "core", "description": "Role-Based Access Control for authorisation",
                    "version": "", "status": "disabled"}


def test_description_with_colon_space_does_not_break_parsing():
    status = mk.parse_status(fixture("status-1.34-fresh.txt"))
    cilium = [a for a in status["addons"] if a["name"] == "cilium"][0]
    assert cilium["description"] == "SDN, fast with full network policy: needs a kernel with eBPF"
    assert cilium["repository"] == "community"
    with pytest.raises(yaml.YAMLError):  # why the parser is line-based
        yaml.safe_load(fixture("status-1.34-fresh.txt"))


def test_ha_cluster_lists_voters_and_standby():
    status = mk.parse_status(fixture("status-1.35-ha3.txt"))
    assert status["voters"] == ["192.0.2.10:19001", "192.0.2.11:19001", "192.0.2.12:19001"]
    assert [n["role"] for n in status["ha"]["nodes"]] == ["voter", "voter", "voter", "standby"]


def test_not_running_keeps_the_message():
    status = mk.parse_status(fixture("status-not-running.txt"))
    assert status["running"] is False and status["addons"] == []
    assert status["message"].startswith("microk8s is not running")


def test_worker_node_is_recognised():
    status = mk.parse_status(fixture("status-worker.txt"))
    assert status["worker"] is True and status["running"] is None


def test_deprecated_short_yaml_form():
    status = mk.parse_status(fixture("status-short-yaml.txt"))
    assert status["enabled"] == ["dns", "ha-cluster"] and status["disabled"] == ["ingress"]


@pytest.mark.parametrize("text, message", [
    ("error: unknown command\n", "not the output of `microk8s status --format yaml`: error: unknown command"),
    ("", r"\(empty\)"),
    ("Insufficient permissions to access MicroK8s.\n", "run it as root"),
])
def test_unexpected_status_output_is_an_error(text, message):
    with pytest.raises(mk.Microk8sError, match=message):
        mk.parse_status(text)


# --- add-node ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["add-node.json", "add-node-pretty.txt", "add-node-short.txt", "add-node-yaml.txt"])
def test_every_add_node_format_gives_the_same_urls(name):
    parsed = mk.parse_add_node(fixture(name))
    assert parsed == {"token": TOKEN, "urls": ["192.0.2.10:25000/" + TOKEN, "10.1.0.1:25000/" + TOKEN]}


def test_join_url_prefers_the_reachable_address():
    parsed = mk.parse_add_node(fixture("add-node.json"))
    assert mk.join_url(parsed, "10.1.0.1") == "10.1.0.1:25000/" + TOKEN
    assert mk.join_url(parsed, "198.51.100.1") == "192.0.2.10:25000/" + TOKEN
    assert mk.join_url(parsed) == "192.0.2.10:25000/" + TOKEN


@pytest.mark.parametrize("text", ["", "Invalid token size.  It must be 32 characters long.", '{"urls": ["nope"]}'])
def test_add_node_without_url_is_an_error(text):
    with pytest.raises(mk.Microk8sError, match="printed no join URL"):
        mk.parse_add_node(text)


# --- addons -----------------------------------------------------------------------------------

DESIRED = [{"name": "dns", "args": "1.1.1.1,9.9.9.9"}, "cert-manager", {"name": "core/ingress"}]


def test_fresh_node_enables_the_three_with_arguments():
    plan = mk.addon_plan(mk.parse_status(fixture("status-1.34-fresh.txt")), DESIRED)
    assert [a["argv"] for a in plan["enable"]] == [
        ["microk8s", "enable", "dns", "1.1.1.1,9.9.9.9"], ["microk8s", "enable", "cert-manager"],
        ["microk8s", "enable", "core/ingress"]]
    assert plan["disable"] == [] and plan["unknown"] == []


def test_converged_node_needs_nothing():
    plan = mk.addon_plan(mk.parse_status(fixture("status-1.34-single.txt")), DESIRED, disable_unlisted=True,
                         never_disable=["ha-cluster", "helm", "helm3"])
    assert plan["enable"] == [] and plan["disable"] == []


def test_disable_unlisted_spares_the_protected_ones():
    plan = mk.addon_plan(mk.parse_status(fixture("status-1.34-single.txt")), ["dns", "ingress"],
                         disable_unlisted=True, never_disable=["ha-cluster", "helm", "helm3"])
    assert [a["argv"] for a in plan["disable"]] == [["microk8s", "disable", "cert-manager"]]
    assert mk.addon_plan(mk.parse_status(fixture("status-1.34-single.txt")), ["dns"])["disable"] == []


def test_unknown_addons_are_reported_not_enabled():
    plan = mk.addon_plan(mk.parse_status(fixture("status-1.34-fresh.txt")), ["dns", "traefik", "community/cilium"])
    assert plan["unknown"] == ["traefik"]
    assert [a["argv"] for a in plan["enable"]] == [
        ["microk8s", "enable", "dns"], ["microk8s", "enable", "community/cilium"]]


def test_bad_addon_entry_is_an_error():
    with pytest.raises(mk.Microk8sError, match="names or {name, args} dicts"):
        mk.addon_plan({"addons": []}, [{"args": ["x"]}])


# --- edge guard -------------------------------------------------------------------------------

TRAEFIK = [{"name": "traefik", "ports": [80, 443, 8080]}]


def test_undecided_design_with_a_clash_explains_both_choices():
    result = mk.edge_guard(TRAEFIK, [80, 443, 10254])
    assert result["ok"] is False and result["conflicts"] == [80, 443]
    assert "Docker publishes 80 by traefik; 443 by traefik" in result["message"]
    assert "microk8s_edge_owner: docker" in result["message"] and "microk8s_edge_owner: cluster" in result["message"]
    assert "iptables DNAT" in result["message"]


def test_docker_owner_with_moved_ingress_ports_is_fine():
    assert mk.edge_guard(TRAEFIK, [18080, 18443], "docker")["ok"] is True


def test_docker_owner_still_claiming_edge_ports_fails():
    result = mk.edge_guard(TRAEFIK, [80, 443], "docker")
    assert not result["ok"] and "set microk8s_ingress_host_ports to free ports" in result["message"]


def test_moving_onto_the_traefik_dashboard_port_is_caught():
    result = mk.edge_guard(TRAEFIK, ["8080", 8443], "docker")
    assert result["conflicts"] == [8080]


def test_cluster_owner_needs_docker_off_the_edge():
    result = mk.edge_guard(TRAEFIK, [80, 443], "cluster")
    assert not result["ok"] and "Docker still publishes 80 by traefik; 443 by traefik" in result["message"]
    assert mk.edge_guard([{"name": "grafana", "ports": [3000]}], [80, 443], "cluster")["ok"]


def test_docker_ps_output_is_understood():
    text = ("traefik\t0.0.0.0:80->80/tcp, :::80->80/tcp, 0.0.0.0:443->443/tcp, 127.0.0.1:8080->8080/tcp\n"
            "postgres\t5432/tcp\n"
            "relay\t0.0.0.0:18080-18081->9000-9001/tcp\n")
    assert mk.parse_docker_ps(text) == [{"name": "traefik", "ports": [80, 443, 8080]},
                                        {"name": "postgres", "ports": []},
                                        {"name": "relay", "ports": [18080, 18081]}]
    assert mk.edge_guard(text, [18081, 18443], "docker")["conflicts"] == [18081]


def test_live_check_requires_the_owner_to_hold_the_edge():
    stopped = [{"name": "postgres", "ports": [5432]}]
    down = mk.edge_guard(stopped, [18080, 18443], "docker", require_owner=True)
    assert not down["ok"] and "no Docker container publishes 80 and 443: the edge is down" in down["message"]
    assert mk.edge_guard(TRAEFIK, [18080, 18443], "docker", require_owner=True)["ok"]
    moved = mk.edge_guard([], [18080, 18443], "cluster", require_owner=True)
    assert not moved["ok"] and "claims host ports [18080, 18443], not 80/443" in moved["message"]
    assert mk.edge_guard(TRAEFIK, [80], "docker", require_owner=True)["conflicts"] == [80]
    assert mk.edge_guard(TRAEFIK, [], "docker")["docker"] == TRAEFIK


def test_no_docker_or_no_ingress_is_fine():
    assert mk.edge_guard([], [80, 443])["ok"]
    assert mk.edge_guard(TRAEFIK, [])["ok"]


@pytest.mark.parametrize("args, message", [(([], [], "both"), "must be docker, cluster or empty"),
                                           (([{"name": "x", "ports": ["http"]}], []), "is not a number")])
def test_edge_guard_bad_input(args, message):
    with pytest.raises(mk.Microk8sError, match=message):
        mk.edge_guard(*args)


# --- host ports -------------------------------------------------------------------------------

def test_ingress_nginx_host_ports_move_and_the_second_run_is_a_no_op():
    ds = daemonset("1.34")
    result = mk.host_port_patch(ds, 18080, 18443)
    assert result["changed"] and result["before"] == {"http": 80, "https": 443}
    ports = result["containers"][0]["ports"]
    assert [(p["name"], p["containerPort"], p["hostPort"]) for p in ports] == [
        ("http", 80, 18080), ("https", 443, 18443), ("health", 10254, 10254)]
    assert result["containers"][0]["args"] == ds["spec"]["template"]["spec"]["containers"][0]["args"]
    ds["spec"]["template"]["spec"]["containers"] = result["containers"]
    assert mk.host_port_patch(ds, 18080, 18443)["changed"] is False


def test_traefik_web_ports_move():
    result = mk.host_port_patch(daemonset("1.35"), 18080, 18443)
    assert result["after"] == {"web": 18080, "websecure": 18443}


def test_daemonset_without_edge_ports_is_left_alone():
    ds = {"metadata": {"name": "x", "namespace": "y"}, "spec": {"template": {"spec": {"containers": [
        {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]}}}}
    assert mk.host_port_patch(ds, 1, 2) == {"changed": False, "found": False, "containers": [
        {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}], "before": {}, "after": {}}


# --- live host ports --------------------------------------------------------------------------

def test_host_ports_of_every_daemonset_from_a_k8s_info_result():
    nginx, traefik = daemonset("1.34"), daemonset("1.35")
    traefik["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "ports": [{"hostPort": 9000}]}]
    plain = {"metadata": {"name": "node-exporter", "namespace": "monitoring"}, "spec": {"template": {"spec": {
        "containers": [{"name": "c", "ports": [{"containerPort": 9100}]}]}}}}
    result = mk.host_ports({"changed": False, "api_found": True, "resources": [nginx, traefik, plain]})
    assert result == {"ports": [80, 443, 9000, 10254], "daemonsets": {
        "ingress/nginx-ingress-microk8s-controller": [80, 443, 10254],
        "%s/%s" % (traefik["metadata"]["namespace"], traefik["metadata"]["name"]): [80, 443, 9000]}}
    assert mk.host_ports([]) == {"ports": [], "daemonsets": {}}


def test_host_ports_after_the_move_feed_the_live_edge_check():
    ds = daemonset("1.34")
    ds["spec"]["template"]["spec"]["containers"] = mk.host_port_patch(ds, 18080, 18443)["containers"]
    live = mk.host_ports([ds])["ports"]
    traefik = [{"name": "traefik", "ports": [80, 443]}]
    assert live == [10254, 18080, 18443] and mk.edge_guard(traefik, live, "docker", require_owner=True)["ok"]
    assert not mk.edge_guard(traefik, mk.host_ports([daemonset("1.34")])["ports"], "docker", True)["ok"]


@pytest.mark.parametrize("value, message", [
    ("text", "expected DaemonSet objects or a k8s_info result, got str"),
    ({"results": []}, "got dict"),
    ([{"spec": {"template": {"spec": {"containers": [{"ports": [{"hostPort": "eighty"}]}]}}}}], "is not a number"),
])
def test_host_ports_bad_input(value, message):
    with pytest.raises(mk.Microk8sError, match=message):
        mk.host_ports(value)

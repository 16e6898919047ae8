# -*- coding: utf-8 -*-
"""The microk8s role's API-facing part on localhost against the double (the split-edge runbook that repairs with it:
tests/integration/test_runbooks.py).

Docker is faked through microk8s_docker_published (the role and the runbook take it instead of
asking `docker ps`); Kubernetes is the REST double.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TRAEFIK = [{"name": "traefik", "ports": [80, 443, 8080]}]

pytestmark = pytest.mark.slow


def load_134(kube):
    objects = []
    for path in [os.path.join(FIXTURES, "microk8s", "layout-1.34.yaml")] + sorted(
            glob.glob(os.path.join(FIXTURES, "manifests", "**", "*.yaml"), recursive=True)):
        with open(path) as handle:
            objects.extend(d for d in yaml.safe_load_all(handle)
                           if d and (d["kind"] == "Ingress" or "layout" in path))
    kube.load(objects)


def run(kube, tmp_path, playbook, host_vars, extra_vars=None):
    """ansible-playbook with localhost in k8s_control_plane; returns (rc, {task name: result})."""
    variables = dict(ansible_connection="local", ansible_python_interpreter=sys.executable, ansible_become=False,
                     microk8s_kubeconfig_path=kube.kubeconfig_path, **host_vars)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"k8s_control_plane": {"hosts": {
        "localhost": variables}}}}}))
    tmp = tmp_path / "ansible-tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_LOCAL_TEMP=str(tmp),
               ANSIBLE_REMOTE_TEMP=str(tmp), TMPDIR=str(tmp), no_proxy="127.0.0.1,localhost",
               NO_PROXY="127.0.0.1,localhost")
    env.pop("ANSIBLE_CONFIG", None)
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), playbook]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                          check=False)
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("no json from ansible-playbook: %s %s" % (proc.stdout, proc.stderr))
    results = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            results[task["task"]["name"]] = task["hosts"].get("localhost", {})
    return proc.returncode, results


def host_ports(kube):
    ds = kube.get("apps/v1", "DaemonSet", "nginx-ingress-microk8s-controller", "ingress")
    return dict((p["name"], p["hostPort"]) for p in ds["spec"]["template"]["spec"]["containers"][0]["ports"])


def classes(kube):
    return dict(("%s/%s" % (o["metadata"]["namespace"], o["metadata"]["name"]), o["spec"].get("ingressClassName"))
                for o in kube.list("networking.k8s.io/v1", "Ingress"))


PRODUCTION = dict(microk8s_edge_owner="docker", microk8s_ingress_host_ports={"http": 18080, "https": 18443},
                  microk8s_docker_published=TRAEFIK)


ROLE_PLAY = [{"name": "microk8s API part", "hosts": "k8s_control_plane", "gather_facts": False,
              "roles": [{"role": "squaremcp.infra.microk8s", "microk8s_manage_installation": False}]}]


def role_playbook(tmp_path):
    path = tmp_path / "role.yml"
    path.write_text(yaml.safe_dump(ROLE_PLAY))
    return str(path)


@pytest.mark.parametrize("host_vars, message", [
    ({"microk8s_edge_owner": ""}, "Choose the design and record it in the inventory: (1) microk8s_edge_owner: docker"),
    ({"microk8s_edge_owner": "docker"}, "microk8s_edge_owner is docker, but the cluster ingress would still claim"),
    ({"microk8s_edge_owner": "cluster"}, "microk8s_edge_owner is cluster, but Docker still publishes 80 by traefik"),
])
def test_role_edge_guard_stops_before_touching_the_cluster(kube, tmp_path, host_vars, message):
    load_134(kube)
    before = (host_ports(kube), classes(kube))
    rc, results = run(kube, tmp_path, role_playbook(tmp_path), dict(host_vars, microk8s_docker_published=TRAEFIK))
    guard = results["squaremcp.infra.microk8s : Stop before the cluster ingress and the Docker edge take each other's "
                    "traffic"]
    assert rc != 0 and guard["failed"] is True and message in guard["msg"]
    assert (host_ports(kube), classes(kube)) == before
    assert not kube.requests_matching("PATCH") and not kube.requests_matching("GET")


def test_role_api_part_converges_and_second_run_changes_nothing(kube, tmp_path):
    load_134(kube)
    rc, first = run(kube, tmp_path, role_playbook(tmp_path), PRODUCTION)
    assert rc == 0, first
    assert host_ports(kube)["http"] == 18080 and classes(kube)["squaremcp/squaremcp-www-redirect"] == "public"
    rc, second = run(kube, tmp_path, role_playbook(tmp_path), PRODUCTION)
    assert rc == 0 and not [name for name, result in second.items() if result.get("changed")]


def rogue_daemonset(ports):
    """A DaemonSet outside the ingress namespace that takes host ports (here: 80, where Traefik listens)."""
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "rogue", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": "rogue"}}, "template": {
                "metadata": {"labels": {"app": "rogue"}},
                "spec": {"containers": [{"name": "proxy", "image": "example/proxy:1", "ports": [
                    {"name": "web", "containerPort": 8080, "hostPort": p} for p in ports]}]}}}}


def unknown_port_names(kube):
    """An ingress addon whose ports are not called http/https: the role cannot tell which ones to move."""
    ds = kube.get("apps/v1", "DaemonSet", "nginx-ingress-microk8s-controller", "ingress")
    for port in ds["spec"]["template"]["spec"]["containers"][0]["ports"]:
        port["name"] = {"http": "p-plain", "https": "p-tls"}.get(port["name"], port["name"])
    kube.apply(ds)


@pytest.mark.parametrize("edit, expected", [
    (lambda kube: kube.create(rogue_daemonset([80])),
     ["microk8s_edge_owner is docker, but the cluster ingress would still claim host ports Docker publishes "
      "(80 by traefik)", '"kube-system/rogue": [80]']),
    (unknown_port_names,
     ["would still claim host ports Docker publishes (80 by traefik; 443 by traefik)",
      '"ingress/nginx-ingress-microk8s-controller": [80, 443, 10254]']),
], ids=["rogue-daemonset", "unknown-port-names"])
def test_role_fails_when_the_running_edge_differs_from_the_design(kube, tmp_path, edit, expected):
    """The design check at the start passes (it trusts the inventory); the live check at the end does not."""
    load_134(kube)
    edit(kube)
    rc, results = run(kube, tmp_path, role_playbook(tmp_path), PRODUCTION)
    live = results.get("squaremcp.infra.microk8s : Fail when the edge that runs is not the recorded design", {})
    assert rc != 0 and live.get("failed") is True, results
    assert live["msg"].startswith("localhost, after converging: ")
    assert [part for part in expected if part not in live["msg"]] == [], live["msg"]
    assert classes(kube)["hermes-mcp/hermes-mcp"] == "public"  # the rest of the converge ran


def test_role_live_check_can_be_turned_off(kube, tmp_path):
    load_134(kube)
    kube.create(rogue_daemonset([80]))
    rc, results = run(kube, tmp_path, role_playbook(tmp_path), dict(PRODUCTION, microk8s_edge_live_check=False))
    assert rc == 0, results

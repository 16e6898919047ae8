# -*- coding: utf-8 -*-
"""The whole microk8s role (main.yml, installation on) on localhost, with fakes for what cannot run here.

snap and microk8s cannot run here, so `snap`, `microk8s` and `hostname` are
tests/fixtures/microk8s/fake_microk8s.py (outputs in the recorded upstream formats, single-use tokens,
kubelet node names = lower-cased hostnames that differ from the inventory names); five inventory hosts
share one fake cluster state. The cluster API is the Kubernetes double: `microk8s enable ingress`
creates the <= 1.34 ingress addon there, and every fake CLI call leaves a marker request in the
double's log, so CLI and API calls can be ordered on one timeline.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
FAKE = os.path.join(FIXTURES, "microk8s", "fake_microk8s.py")
ADDRESSES = {"node-a": "192.0.2.10", "node-b": "192.0.2.11", "node-c": "192.0.2.12", "node-d": "192.0.2.13",
             "node-e": "192.0.2.14", "ghost": "192.0.2.99"}
# What `hostname` prints there: the inventory names are aliases (the kubelet registers these, lower-cased).
HOSTNAMES = {"node-a": "SquareMCP-K8s-1", "node-b": "squaremcp-k8s-2", "node-c": "squaremcp-k8s-3",
             "node-d": "squaremcp-worker-1", "node-e": "squaremcp-worker-2", "ghost": "ghost"}
TRAEFIK = [{"name": "traefik", "ports": [80, 443, 8080]}]
DS_PATH = "/apis/apps/v1/namespaces/ingress/daemonsets"

pytestmark = pytest.mark.slow


def fake_cluster(tmp_path, kube, foreign=False, joined=None):
    state = {"primary": "node-a", "addresses": ADDRESSES, "hostnames": HOSTNAMES, "clusters": {}, "member_of": {},
             "tokens": {}, "log": []}
    if foreign:  # node-e already belongs to a cluster with "ghost"
        state["clusters"]["other"] = {"roles": {"ghost": "control-plane", "node-e": "control-plane"},
                                      "addons": {"ha-cluster": "enabled"}}
        state["member_of"].update({"node-e": "other", "ghost": "other"})
    if joined:  # {node: role} already joined to node-a's cluster
        state["clusters"]["node-a"] = {"roles": dict({"node-a": "control-plane"}, **joined), "addons": {
            "ha-cluster": "enabled", "helm": "enabled", "helm3": "enabled"}}
        state["member_of"].update(dict((node, "node-a") for node in joined))
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for command, prefix in (("microk8s", ""), ("hostname", "--hostname "), ("snap", "--snap ")):
        wrapper = bindir / command
        wrapper.write_text('#!/bin/sh\nexec "%s" "%s" %s"$@"\n' % (sys.executable, FAKE, prefix))
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    with open(os.path.join(FIXTURES, "microk8s", "layout-1.34.yaml")) as handle:
        (tmp_path / "ingress-addon.json").write_text(json.dumps([o for o in yaml.safe_load_all(handle) if o]))
    kube.load(seed_ingresses())  # the apps are deployed already; the addon comes with `microk8s enable ingress`
    return path, str(bindir)


def seed_ingresses():
    found = []
    for name in ("hermes-mcp/hermes-k8s.yaml", "hermes-mcp/docs/docs-k8s.yaml"):
        with open(os.path.join(FIXTURES, "manifests", name)) as handle:
            found.extend(d for d in yaml.safe_load_all(handle) if d and d["kind"] == "Ingress")
    return found


def converge(tmp_path, kube, state, bindir, control, workers, host_vars=None, group_vars=None, stop_on_failure=False):
    """Run the role on every host; node-a runs the Docker edge (Traefik on 80/443), the others no Docker."""
    base = dict(ansible_connection="local", ansible_python_interpreter=sys.executable, ansible_become=False,
                microk8s_kubeconfig_export_path=str(tmp_path / "kube" / "config"),
                microk8s_kubeconfig_server="https://127.0.0.1:16443", microk8s_join_address="10.1.0.1",
                microk8s_kubeconfig_path=kube.kubeconfig_path, microk8s_api_python=sys.executable,
                microk8s_ingress_host_ports={"http": 18080, "https": 18443}, microk8s_docker_published=[])
    base.update(group_vars or {})
    hosts = dict((h, dict({"microk8s_edge_owner": "docker", "microk8s_docker_published": TRAEFIK}
                          if h == "node-a" else {}, **(host_vars or {}).get(h, {}))) for h in control + workers)
    inventory = {"all": {"vars": base, "children": {
        "k8s_control_plane": {"hosts": dict((h, hosts[h]) for h in control)},
        "k8s_workers": {"hosts": dict((h, hosts[h]) for h in workers)}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    play = [{"name": "microk8s", "hosts": "all", "gather_facts": False, "any_errors_fatal": stop_on_failure,
             "environment": {"PATH": "%s:%s" % (bindir, os.environ["PATH"]), "FAKE_MICROK8S_STATE": str(state),
                             "FAKE_MICROK8S_NODE": "{{ inventory_hostname }}", "FAKE_MICROK8S_API": kube.url,
                             "FAKE_MICROK8S_INGRESS": str(tmp_path / "ingress-addon.json")},
             "roles": [{"role": "squaremcp.infra.microk8s"}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    tmp = tmp_path / "t"
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_LOCAL_TEMP=str(tmp),
               ANSIBLE_REMOTE_TEMP=str(tmp), TMPDIR=str(tmp), ANSIBLE_FORKS="5")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")], env=env, capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path), check=False)
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("no json from ansible-playbook: %s %s" % (proc.stdout, proc.stderr))
    return proc.returncode, report, json.loads(state.read_text())


def changed_tasks(report):
    return sorted(set(t["task"]["name"] for p in report["plays"] for t in p["tasks"]
                      if any(r.get("changed") for r in t["hosts"].values())))


def failures(report):
    return dict(("%s: %s" % (host, t["task"]["name"]), r.get("msg")) for p in report["plays"] for t in p["tasks"]
                for host, r in t["hosts"].items() if r.get("failed"))


def host_ports(kube):
    ds = kube.get("apps/v1", "DaemonSet", "nginx-ingress-microk8s-controller", "ingress")
    return dict((p["name"], p["hostPort"]) for p in ds["spec"]["template"]["spec"]["containers"][0]["ports"])


def assert_host_ports_moved_right_after_enable(kube):
    """No CLI call and no other change between `microk8s enable ingress` and the host port patch."""
    timeline = kube.requests
    created = next(i for i, r in enumerate(timeline) if r.method == "POST" and r.path == DS_PATH)
    patched = next(i for i, r in enumerate(timeline) if r.method == "PATCH" and r.path.startswith(DS_PATH + "/")
                   and "fake-microk8s" not in r.headers.get("User-Agent", ""))
    between = [r for r in timeline[created + 1:patched] if "enable ingress" not in r.headers.get("User-Agent", "")]
    assert [r.headers["User-Agent"] for r in between if "fake-microk8s" in r.headers.get("User-Agent", "")] == []
    assert [(r.method, r.path) for r in between if r.method != "GET"] == []
    after = [r.headers["User-Agent"] for r in timeline[patched:] if "fake-microk8s" in r.headers.get("User-Agent", "")]
    assert after[0] == "fake-microk8s node-a: status --format yaml --wait-ready --timeout 300"  # what came next


def test_ha_join_addons_kubeconfig_and_second_run_changes_nothing(tmp_path, kube):
    state_path, bindir = fake_cluster(tmp_path, kube)
    addons = {"microk8s_addons": [{"name": "ingress"}, {"name": "dns", "args": ["1.1.1.1,9.9.9.9"]},
                                  {"name": "cert-manager"}]}  # ingress listed first, enabled last
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a", "node-b", "node-c"], ["node-d"],
                                 group_vars=addons)
    assert rc == 0, failures(report) or report["stats"]
    cluster = state["clusters"]["node-a"]
    assert cluster["roles"] == {"node-a": "control-plane", "node-b": "control-plane", "node-c": "control-plane",
                                "node-d": "worker"}
    assert sorted(state["snaps"]) == ["node-a", "node-b", "node-c", "node-d"]
    assert all(snaps == {"microk8s": "1.34/stable"} for snaps in state["snaps"].values())
    assert sorted(e[2:] for e in state["log"] if e[1] == "snap") == [
        ["install", "microk8s", "--classic", "--channel", "1.34/stable"]] * 4
    assert all(t["used"] for t in state["tokens"].values()) and len(state["tokens"]) == 3
    joins = [entry for entry in state["log"] if entry[1] == "join"]
    assert [(j[0], j[2].split(":")[0], "--worker" in j) for j in joins] == [
        ("node-b", "10.1.0.1", False), ("node-c", "10.1.0.1", False), ("node-d", "10.1.0.1", True)]
    assert [entry[1:] for entry in state["log"] if entry[1] == "enable"] == [
        ["enable", "dns", "1.1.1.1,9.9.9.9"], ["enable", "cert-manager"], ["enable", "ingress"]]
    assert_host_ports_moved_right_after_enable(kube)
    assert host_ports(kube) == {"http": 18080, "https": 18443, "health": 10254}
    assert kube.get("networking.k8s.io/v1", "Ingress", "hermes-mcp", "hermes-mcp")["spec"]["ingressClassName"] == \
        "public"
    exported = tmp_path / "kube" / "config"
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert yaml.safe_load(exported.read_text())["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"
    assert "client-key-data" not in json.dumps(report)  # no_log kept the credentials out of the output

    # The inventory names are not the node names: membership is decided by the hostnames, so nobody re-joins.
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a", "node-b", "node-c"], ["node-d"],
                                 group_vars=addons)
    assert rc == 0 and changed_tasks(report) == [], failures(report) or changed_tasks(report)
    assert len(state["tokens"]) == 3  # no token issued, nobody re-joined

    # A node that tracks another channel is moved to the pinned one (and only that changes).
    state["snaps"]["node-d"]["microk8s"] = "1.33/stable"
    state_path.write_text(json.dumps(state))
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a", "node-b", "node-c"], ["node-d"],
                                 group_vars=addons)
    assert rc == 0, failures(report)
    assert changed_tasks(report) == [
        "squaremcp.infra.microk8s : Install microk8s from its pinned channel, or move it to that channel"]
    assert state["snaps"]["node-d"] == {"microk8s": "1.34/stable"}
    assert [e for e in state["log"] if e[1] == "snap"][-1] == ["node-d", "snap", "refresh", "microk8s", "--channel",
                                                               "1.34/stable"]


def test_converge_fails_when_the_running_edge_is_not_the_recorded_design(tmp_path, kube):
    """node-a records a Docker edge but none runs there: every step succeeds, the final live check does not."""
    state_path, bindir = fake_cluster(tmp_path, kube)
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a"], [],
                                 host_vars={"node-a": {"microk8s_docker_published": [{"name": "db", "ports": [5432]}]}})
    assert rc != 0 and host_ports(kube)["http"] == 18080
    assert list(failures(report)) == ["node-a: squaremcp.infra.microk8s : Fail when the edge that runs is not the "
                                      "recorded design"]
    message = list(failures(report).values())[0]
    assert message.startswith("node-a, after converging: microk8s_edge_owner is docker, but no Docker container "
                              "publishes 80 and 443: the edge is down")
    assert '"ingress/nginx-ingress-microk8s-controller": [10254, 18080, 18443]' in message


def test_node_of_another_cluster_is_never_joined(tmp_path, kube):
    state_path, bindir = fake_cluster(tmp_path, kube, foreign=True)
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a"], ["node-e"], stop_on_failure=True)
    assert rc != 0
    assert list(failures(report).values()) == [
        "node-e: its node name squaremcp-worker-2 (from `hostname` on the host) is not among the nodes of node-a's "
        "cluster (squaremcp-k8s-1), yet its microk8s already belongs to a cluster (2 control-plane nodes). If it is "
        "one of those nodes under another name, set microk8s_node_name for node-e to its name in `microk8s kubectl "
        "get nodes`; otherwise run `microk8s leave` there first (this role never re-joins a node)."]
    assert not [entry for entry in state["log"] if entry[1] in ("add-node", "join")]


def test_a_wrong_node_name_is_named_with_what_it_was_compared_to(tmp_path, kube):
    state_path, bindir = fake_cluster(tmp_path, kube, joined={"node-d": "worker"})
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a"], ["node-d"],
                                 host_vars={"node-d": {"microk8s_node_name": "node-d"}}, stop_on_failure=True)
    assert rc != 0 and state["tokens"] == {}
    message = failures(report)["node-d: squaremcp.infra.microk8s : Never join a node that already belongs to another "
                               "cluster"]
    assert message.startswith("node-d: its node name node-d (microk8s_node_name) is not among the nodes of node-a's "
                              "cluster (squaremcp-k8s-1, squaremcp-worker-1), yet its microk8s already belongs to a "
                              "cluster (it runs as a worker). If it is one of those nodes under another name, set "
                              "microk8s_node_name for node-d")


def test_two_control_plane_nodes_are_refused(tmp_path, kube):
    state_path, bindir = fake_cluster(tmp_path, kube)
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a", "node-b"], [])
    assert rc != 0 and state["log"] == []
    assert any("dqlite needs 3 voters" in m for m in failures(report).values())


def test_unknown_addon_is_refused_before_anything_is_enabled(tmp_path, kube):
    state_path, bindir = fake_cluster(tmp_path, kube)
    wanted = {"microk8s_addons": [{"name": "dns"}, {"name": "traefik"}]}
    rc, report, state = converge(tmp_path, kube, state_path, bindir, ["node-a"], [], group_vars=wanted)
    assert rc != 0 and not [e for e in state["log"] if e[1] == "enable"]
    assert any("has no addon traefik" in m for m in failures(report).values())

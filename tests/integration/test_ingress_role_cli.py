# -*- coding: utf-8 -*-
"""The microk8s role's CLI-driving tasks (status, HA joins, addons, kubeconfig export) on localhost.

snap cannot run here, so `microk8s` is tests/fixtures/microk8s/fake_microk8s.py (outputs in the
recorded upstream formats, single-use tokens); four inventory hosts share one fake cluster state.
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
FAKE = os.path.join(ROOT, "tests", "fixtures", "microk8s", "fake_microk8s.py")
ADDRESSES = {"node-a": "192.0.2.10", "node-b": "192.0.2.11", "node-c": "192.0.2.12", "node-d": "192.0.2.13",
             "node-e": "192.0.2.14", "ghost": "192.0.2.99"}

pytestmark = pytest.mark.slow


def fake_cluster(tmp_path, foreign=False):
    state = {"primary": "node-a", "addresses": ADDRESSES, "clusters": {}, "member_of": {}, "tokens": {}, "log": []}
    if foreign:  # node-e already belongs to a cluster with "ghost"
        state["clusters"]["other"] = {"roles": {"ghost": "control-plane", "node-e": "control-plane"},
                                      "addons": {"ha-cluster": "enabled"}}
        state["member_of"].update({"node-e": "other", "ghost": "other"})
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "microk8s"
    wrapper.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, FAKE))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return path, str(bindir)


def converge(tmp_path, state, bindir, control, workers):
    hostvars = dict(ansible_connection="local", ansible_python_interpreter=sys.executable, ansible_become=False)
    inventory = {"all": {"vars": dict(hostvars, microk8s_kubeconfig_export_path=str(tmp_path / "kube" / "config"),
                                      microk8s_kubeconfig_server="https://127.0.0.1:16443",
                                      microk8s_join_address="10.1.0.1"),
                         "children": {"k8s_control_plane": {"hosts": dict((h, {}) for h in control)},
                                      "k8s_workers": {"hosts": dict((h, {}) for h in workers)}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    play = [{"name": "microk8s CLI part", "hosts": "all", "gather_facts": False,
             "environment": {"PATH": "%s:%s" % (bindir, os.environ["PATH"]), "FAKE_MICROK8S_STATE": str(state),
                             "FAKE_MICROK8S_NODE": "{{ inventory_hostname }}"},
             "tasks": [{"name": "Validate", "ansible.builtin.include_role": {
                 "name": "squaremcp.infra.microk8s", "tasks_from": "validate.yml"}},
                 {"name": "Drive the CLI", "ansible.builtin.include_role": {
                     "name": "squaremcp.infra.microk8s", "tasks_from": "cli.yml"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "t"),
               ANSIBLE_REMOTE_TEMP=str(tmp_path / "t"), ANSIBLE_FORKS="5")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                           str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")], env=env, capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path), check=False)
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    return proc.returncode, report, json.loads(state.read_text())


def changed_tasks(report):
    return sorted(set(t["task"]["name"] for p in report["plays"] for t in p["tasks"]
                      if any(r.get("changed") for r in t["hosts"].values())))


def test_ha_join_addons_kubeconfig_and_second_run_changes_nothing(tmp_path):
    state_path, bindir = fake_cluster(tmp_path)
    rc, report, state = converge(tmp_path, state_path, bindir, ["node-a", "node-b", "node-c"], ["node-d"])
    assert rc == 0, report["stats"]
    cluster = state["clusters"]["node-a"]
    assert cluster["roles"] == {"node-a": "control-plane", "node-b": "control-plane", "node-c": "control-plane",
                                "node-d": "worker"}
    assert all(t["used"] for t in state["tokens"].values()) and len(state["tokens"]) == 3
    joins = [entry for entry in state["log"] if entry[1] == "join"]
    assert [(j[0], j[2].split(":")[0], "--worker" in j) for j in joins] == [
        ("node-b", "10.1.0.1", False), ("node-c", "10.1.0.1", False), ("node-d", "10.1.0.1", True)]
    assert [entry[1:] for entry in state["log"] if entry[1] == "enable"] == [
        ["enable", "dns", "1.1.1.1,9.9.9.9"], ["enable", "cert-manager"], ["enable", "ingress"]]
    exported = tmp_path / "kube" / "config"
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert yaml.safe_load(exported.read_text())["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"
    assert "client-key-data" not in json.dumps(report)  # no_log kept the credentials out of the output

    rc, report, state = converge(tmp_path, state_path, bindir, ["node-a", "node-b", "node-c"], ["node-d"])
    assert rc == 0 and changed_tasks(report) == []
    assert len(state["tokens"]) == 3  # no token issued, nobody re-joined


def test_node_of_another_cluster_is_never_joined(tmp_path):
    state_path, bindir = fake_cluster(tmp_path, foreign=True)
    rc, report, state = converge(tmp_path, state_path, bindir, ["node-a"], ["node-e"])
    assert rc != 0
    failures = [r["msg"] for p in report["plays"] for t in p["tasks"] for r in t["hosts"].values() if r.get("failed")]
    assert any("node-e is not a node of node-a's cluster but already belongs to another one" in m for m in failures)
    assert not [entry for entry in state["log"] if entry[1] in ("add-node", "join")]


def test_two_control_plane_nodes_are_refused(tmp_path):
    state_path, bindir = fake_cluster(tmp_path)
    rc, report, state = converge(tmp_path, state_path, bindir, ["node-a", "node-b"], [])
    assert rc != 0 and state["log"] == []
    failures = [r["msg"] for p in report["plays"] for t in p["tasks"] for r in t["hosts"].values() if r.get("failed")]
    assert any("dqlite needs 3 voters" in m for m in failures)


def test_unknown_addon_is_refused_before_anything_is_enabled(tmp_path):
    state_path, bindir = fake_cluster(tmp_path)
    wanted = {"microk8s_addons": [{"name": "dns"}, {"name": "traefik"}]}
    rc, report, state = converge_with(tmp_path, state_path, bindir, wanted)
    assert rc != 0 and not [e for e in state["log"] if e[1] == "enable"]
    failures = [r["msg"] for p in report["plays"] for t in p["tasks"] for r in t["hosts"].values() if r.get("failed")]
    assert any("has no addon traefik" in m for m in failures)


def converge_with(tmp_path, state_path, bindir, extra):
    (tmp_path / "group_vars").mkdir(exist_ok=True)
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(extra))
    return converge(tmp_path, state_path, bindir, ["node-a"], [])

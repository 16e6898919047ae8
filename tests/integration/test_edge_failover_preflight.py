# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The edge_failover role plans keepalived (or refuses, naming the variable) before it changes anything.

One ansible-playbook run on localhost (``--tags edge_failover_preflight``: the argument validation, the
settings check, this host's routes from the real ``ip -j -4 route`` and the plan) with one group per
case; then the same role run on a good pair writes keepalived.conf into a temporary path in check mode
(nothing on disk), so the plan's peers are the ones the template gets.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2 (ip -j)")]

LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
# group -> ({host: variables}, fragment of the failure message or None)
CASES = {
    "pair": ({"pair-1": {"edge_failover_address": "10.99.0.11", "edge_failover_interface": "lo"},
              "pair-2": {"edge_failover_address": "10.99.0.12", "edge_failover_interface": "lo"}}, None),
    "absent": ({"absent-1": {"edge_failover_address": "10.99.1.11", "edge_failover_interface": "lo"},
                "absent-peer": {"ansible_host": "peer.example.com"}},
               "no VRRP address for absent-peer: it is not in this run (or has no route to 10.99.1.100) and its "
               "ansible_host is not an IPv4 address; set edge_failover_address for absent-peer in the inventory"),
    "badvip": ({"badvip-1": {"edge_failover_address": "10.99.2.11", "edge_failover_interface": "lo",
                             "edge_failover_virtual_ip": "10.99.2"}},
               "edge_failover_virtual_ip is '10.99.2', not an IPv4 address"),
    "noroute": ({"noroute-1": {"edge_failover_address": "10.99.3.11", "edge_failover_virtual_ip": "203.0.113.77"}},
                "noroute-1 has no connected route to 203.0.113.77: set edge_failover_interface"),
    "samehost": ({"same-1": {"edge_failover_address": "10.99.4.11", "edge_failover_interface": "lo"},
                  "same-2": {"edge_failover_address": "10.99.4.11", "edge_failover_interface": "lo"}},
                 "the edges share the address(es) 10.99.4.11"),
    "badrouter": ({"badrouter-1": {"edge_failover_address": "10.99.5.11", "edge_failover_interface": "lo",
                                   "edge_failover_router_id": 300}}, "edge_failover_router_id within 1-255"),
}


def inventory(work):
    groups, hosts = {}, {}
    for group, (members, _expected) in CASES.items():
        vip = "10.99.%d.100" % list(CASES).index(group)
        groups[group] = {"hosts": dict.fromkeys(members)}
        for host, variables in members.items():
            hosts[host] = dict(dict(LOCAL, edge_failover_group=group, edge_failover_virtual_ip=vip), **variables)
    path = work / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": groups}}))
    return path


def run(work, *args):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORKS="20", ANSIBLE_HOME=str(work / "ansible-home"))
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook")] + list(args),
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return json.loads(result.stdout[result.stdout.index("{"):]), result.stdout + result.stderr


def play(work, hosts, **variables):
    path = work / "play.yml"
    path.write_text(yaml.safe_dump([{"name": "Failover", "hosts": hosts, "gather_facts": False, "vars": variables,
                                     "roles": [{"role": "squaremcp.infra.edge_failover"}]}]))
    return path


@pytest.fixture(scope="module")
def preflight(tmp_path_factory):
    work = tmp_path_factory.mktemp("edge_failover")
    report, output = run(work, "-i", str(inventory(work)), str(play(work, "all:!absent-peer")), "--check",
                         "--tags", "edge_failover_preflight")
    return work, report, output


def first_failure(report, host):
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"].get(host, {})
        if result.get("failed"):
            return " ".join(str(result.get("msg", "")).split())
    return None


@pytest.mark.parametrize("group", list(CASES))
def test_each_case_plans_or_refuses_with_the_variable_to_set(preflight, group):
    _work, report, output = preflight
    members, expected = CASES[group]
    for host in members:
        if host == "absent-peer":
            continue
        message = first_failure(report, host)
        if expected is None:
            assert message is None, output[-3000:]
        else:
            assert message is not None and expected in message, (message, output[-2000:])


def test_the_plan_lists_the_other_edge_as_unicast_peer(preflight):
    _work, report, _output = preflight
    plans = {}
    for task in report["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            if "__edge_failover_plan" in result.get("ansible_facts", {}):
                plans[host] = result["ansible_facts"]["__edge_failover_plan"]
    assert plans["pair-1"] == {"interface": "lo", "address": "10.99.0.11", "peers": ["10.99.0.12"]}
    assert plans["pair-2"] == {"interface": "lo", "address": "10.99.0.12", "peers": ["10.99.0.11"]}


def test_check_mode_shows_the_keepalived_config_and_writes_nothing(preflight):
    work = preflight[0]
    config = work / "keepalived.conf"
    report, output = run(work, "-i", str(inventory(work)), str(play(work, "pair", edge_failover_config_path=str(config))),
                         "--check", "--diff", "--tags", "edge_failover_preflight,edge_failover_config")
    results = {task["task"]["name"]: task["hosts"] for task in report["plays"][0]["tasks"]}
    written = results["squaremcp.infra.edge_failover : Write keepalived.conf (checked with keepalived --config-test "
                      "before it is put in place)"]
    after = written["pair-2"]["diff"][0]["after"]
    assert "unicast_src_ip 10.99.0.12" in after and "    10.99.0.11\n" in after, output[-2000:]
    assert "priority 190" in after and "priority 200" in written["pair-1"]["diff"][0]["after"]
    assert 'script "/usr/bin/docker exec traefik traefik healthcheck --ping"' in after
    assert "10.99.0.100/32 dev lo" in after
    assert not config.exists()

# -*- coding: utf-8 -*-
"""Where the floating IP lives and who the VRRP peers are (module_utils/_failover.py, role edge_failover)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _failover

# `ip -j -4 route show table main` of a Docker-in-Docker lab host (iproute2 6.1, Debian bookworm), plus a
# more specific link to show the longest prefix wins.
ROUTES = json.dumps([
    {"dst": "default", "gateway": "10.231.71.1", "dev": "eth0", "flags": []},
    {"dst": "10.231.0.0/16", "dev": "eth1", "protocol": "kernel", "scope": "link", "prefsrc": "10.231.9.9", "flags": []},
    {"dst": "10.231.71.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "prefsrc": "10.231.71.11",
     "flags": []},
    {"dst": "172.18.0.0/16", "dev": "docker0", "protocol": "kernel", "scope": "link", "prefsrc": "172.18.0.1",
     "flags": ["linkdown"]},
])


def test_the_most_specific_connected_route_holding_the_ip_wins():
    assert _failover.link_dict(ROUTES, "10.231.71.100") == {
        "interface": "eth0", "address": "10.231.71.11", "network": "10.231.71.0/24"}
    assert _failover.link_dict(ROUTES, "10.231.72.5")["interface"] == "eth1"


def test_the_default_route_never_counts():
    assert _failover.link_dict(ROUTES, "203.0.113.10") is None


def hosts(**overrides):
    found = {
        "edge-1": {"address": "", "interface": "", "link": {"interface": "eth0", "address": "10.231.71.11"},
                   "ansible_host": "sq-edge-1"},
        "edge-2": {"address": "", "link": {"interface": "eth0", "address": "10.231.71.12"}, "ansible_host": "sq-edge-2"},
        "edge-3": {"address": "10.231.71.13", "link": None, "ansible_host": "edge-3.example.com"},
    }
    for name, values in overrides.items():
        found[name].update(values)
    return found


def test_peers_are_the_other_edges_found_in_the_run_or_given():
    assert _failover.plan(hosts(), "edge-1", "10.231.71.100") == {
        "interface": "eth0", "address": "10.231.71.11", "peers": ["10.231.71.12", "10.231.71.13"]}
    assert _failover.plan(hosts(), "edge-2", "10.231.71.100")["peers"] == ["10.231.71.11", "10.231.71.13"]


def test_an_explicit_address_and_interface_win_over_what_was_found():
    plan = _failover.plan(hosts(**{"edge-1": {"address": "10.0.0.1", "interface": "bond0"}}), "edge-1", "10.0.0.100")
    assert plan["address"] == "10.0.0.1" and plan["interface"] == "bond0"


def test_ansible_host_is_the_last_resort_when_it_is_an_address():
    plan = _failover.plan(hosts(**{"edge-3": {"address": "", "ansible_host": "192.0.2.13"}}), "edge-1", "10.231.71.100")
    assert plan["peers"] == ["10.231.71.12", "192.0.2.13"]


@pytest.mark.parametrize("overrides, me, vip, fragment", [
    ({"edge-3": {"address": ""}}, "edge-1", "10.231.71.100", "set edge_failover_address for edge-3"),
    ({}, "edge-9", "10.231.71.100", "not in the group edge"),
    ({}, "edge-1", "10.231.71", "not an IPv4 address"),
    ({"edge-2": {"address": "10.231.71.11"}}, "edge-1", "10.231.71.100", "share the address(es) 10.231.71.11"),
    ({"edge-2": {"address": "10.231.71.100"}}, "edge-1", "10.231.71.100", "is the floating IP itself"),
    ({"edge-3": {"link": None}}, "edge-3", "10.231.71.100", "set edge_failover_interface"),
])
def test_refusals_name_the_host_and_the_variable(overrides, me, vip, fragment):
    with pytest.raises(_failover.FailoverError) as error:
        _failover.plan(hosts(**overrides), me, vip)
    assert fragment in str(error.value)


def test_a_malformed_floating_ip_is_named_before_the_routes_are_read():
    with pytest.raises(_failover.FailoverError, match="edge_failover_virtual_ip is '10.231.71', not an IPv4"):
        _failover.facing_link(ROUTES, "10.231.71")

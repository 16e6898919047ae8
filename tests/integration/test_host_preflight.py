# -*- coding: utf-8 -*-
"""The host role refuses bad inventories before it changes anything.

One ansible-playbook run on localhost (check mode, ``--tags host_preflight``: argument spec
validation + preflight only) with one inventory alias per case, each with its own variables.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ROOT = pathlib.Path(__file__).resolve().parents[2]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFmlr3JRo8SMq4o8iKyy1JV+cBvXGzBiIzJFMn3W0kgD ops@laptop"
ADMIN = {"name": "ops", "ssh_keys": [KEY]}

RSA_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " old@laptop"
ECDSA = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " yubikey@laptop"

PRODUCTION_VARS = yaml.safe_load((ROOT / "inventory/production/group_vars/docker_hosts/host.yml").read_text())

# case name -> (variables, None when the run must pass or a fragment of the failure message)
CASES = {
    "good": ({"host_admin_users": [ADMIN]}, None),
    "good_root_and_passwords_allowed": (
        {"host_ssh_permit_root_login": True, "host_ssh_password_authentication": True}, None),
    "good_ssh_hardening_off": ({"host_ssh_hardening_enabled": False}, None),
    "production_placeholder": (PRODUCTION_VARS, "garfield has the CHANGE_ME placeholder key"),
    "not_a_key": ({"host_admin_users": [{"name": "ops", "ssh_keys": ["my laptop key"]}]},
                  "ops has a key that is not an OpenSSH public key"),
    "no_admin": ({}, "Refusing to disable root login and passwords for sshd: no admin user with an SSH key"),
    "admin_without_key": ({"host_admin_users": [{"name": "ops"}]}, "no admin user with an SSH key"),
    "only_admin_absent": ({"host_admin_users": [dict(ADMIN, state="absent")]}, "no admin user with an SSH key"),
    "admin_not_in_allowed_groups": ({"host_admin_users": [ADMIN], "host_ssh_allow_groups": ["ops-ssh"]},
                                    "in one of host_ssh_allow_groups ['ops-ssh']"),
    "admin_in_extra_allowed_group": (
        {"host_admin_users": [dict(ADMIN, groups=["ops-ssh"])], "host_ssh_allow_groups": ["ops-ssh"]}, None),
    "admin_not_in_allowed_users": ({"host_admin_users": [ADMIN], "host_ssh_allow_users": ["alice"]},
                                   "allowed by host_ssh_allow_users ['alice']"),
    "removes_connection_user": (
        {"host_admin_users": [ADMIN, {"name": "deploy", "state": "absent"}], "ansible_user": "deploy"},
        "Ansible connects to removes_connection_user as deploy"),
    "port_out_of_range": ({"host_admin_users": [ADMIN], "host_firewall_allowed_tcp": [{"port": 70000}]},
                          "host_firewall_allowed_tcp: entry {'port': 70000}"),
    "port_not_a_number": ({"host_admin_users": [ADMIN], "host_firewall_allowed_udp": [{"port": "dns"}]},
                          "host_firewall_allowed_udp: entry {'port': 'dns'}"),
    "docker_ip_forward_off": (
        {"host_admin_users": [ADMIN], "host_docker_daemon_extra_options": {"ip-forward": False}},
        "sets ip-forward or iptables to false"),
    "unknown_engine": ({"host_admin_users": [ADMIN], "host_docker_engine": "podman"},
                       "value of host_docker_engine must be one of: docker.io, docker-ce, got: podman"),
    "admin_rsa_key_too_short": (
        {"host_admin_users": [{"name": "ops", "ssh_keys": [RSA_2048]}]},
        'sshd would refuse the ssh-rsa key "old@laptop" (2048 bits) of ops: RSA keys need 3072 bits or more '
        "(host_ssh_required_rsa_size)"),
    "admin_rsa_key_allowed_when_relaxed": (
        {"host_admin_users": [{"name": "ops", "ssh_keys": [RSA_2048]}], "host_ssh_required_rsa_size": 2048}, None),
    "admin_ecdsa_key_not_accepted": ({"host_admin_users": [{"name": "ops", "ssh_keys": [KEY, ECDSA]}]},
                                     '"yubikey@laptop" (256 bits) of ops: host_ssh_pubkey_accepted_algorithms does not '
                                     "list ecdsa-sha2-nistp256"),
    "admin_ecdsa_key_accepted_when_listed": (
        {"host_admin_users": [{"name": "ops", "ssh_keys": [ECDSA]}],
         "host_ssh_pubkey_accepted_algorithms": ["ssh-ed25519", "ecdsa-sha2-nistp256"]}, None),
    "sysctl_forwarding_off": ({"host_admin_users": [ADMIN], "host_sysctl_extra_settings": {"net.ipv4.conf.all.forwarding": 0}},
                              "set net.ipv4.conf.all.forwarding to 0: Docker routes every container's traffic"),
    "sysctl_forwarding_off_without_docker": (
        {"host_admin_users": [ADMIN], "host_docker_enabled": False, "host_sysctl_settings": {"net.ipv4.ip_forward": 0}}, None),
    "rule_without_port": ({"host_admin_users": [ADMIN], "host_firewall_allowed_tcp": [{"sources": []}]},
                          "missing required arguments: port"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run every case once; return {case: (failed, message)}."""
    work = tmp_path_factory.mktemp("host_preflight")
    hosts = {}
    for name, case in CASES.items():
        variables = case[0]
        hosts[name] = dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable)
    (work / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (work / "play.yml").write_text(yaml.safe_dump([{
        "name": "Preflight", "hosts": "all", "gather_facts": False,
        "roles": [{"role": "squaremcp.infra.host"}],
    }]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORKS="20")
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(work / "inventory.yml"),
         str(work / "play.yml"), "--check", "--tags", "host_preflight"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    report = json.loads(result.stdout)
    found = {}
    for task in report["plays"][0]["tasks"]:
        for host, outcome in task["hosts"].items():
            if outcome.get("failed") and host not in found:
                items = [item.get("msg", "") for item in outcome.get("results", []) if item.get("failed")]
                found[host] = (True, " ".join(items) or outcome.get("msg", ""))
    for host in report["stats"]:
        found.setdefault(host, (False, ""))
    assert set(found) == set(CASES), result.stderr[-2000:]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_preflight(outcomes, case):
    failed, message = outcomes[case]
    expected = CASES[case][1]
    if expected is None:
        assert not failed, message
    else:
        assert failed and expected in " ".join(message.split()), message

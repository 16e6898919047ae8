# -*- coding: utf-8 -*-
"""site.yml composes every layer, and each inventory gives every layer hosts and valid role values.

CI-affordable proof of the composition (``make demo`` converges it for real on the lab container):
a few ansible-playbook / ansible-inventory runs that contact no host.

* The layer playbooks site.yml imports apply every role of ``roles/`` in dependency order.
* ``--syntax-check`` of site.yml (root and playbooks/), and of every layer playbook on its own, with
  the production and the lab inventory.
* ``ansible-inventory --list``: every layer's host pattern matches hosts in both inventories.
* Each role's own argument validation (the task Ansible adds at the start of a role, run alone with
  ``--tags`` matching nothing else) on every layer host, with the inventory's values: production's
  vault references are filled from the placeholders of ``inventory/production/vault.example.yml``
  (tests/unit/test_inventory_vault.py checks it lists exactly the keys the inventory uses), the lab's
  from its vault of fake values. An undefined variable, a value of the wrong type or outside its
  choices, a missing required sub-option: the run fails. A broken copy of the production inventory
  proves that it does.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
PLAYBOOKS = ROOT / "playbooks"
PRODUCTION = ROOT / "inventory/production"
LAB = ROOT / "inventory/lab"
HA_EXAMPLE = ROOT / "inventory/ha-example"  # production's values on a split platform (2 edges, 3 k8s nodes)
LAB_HA = ROOT / "inventory/lab-ha"  # the lab's values on three hosts (make demo-ha, Molecule platform)
LAB_VAULT_PASSWORD = LAB / ".vault-password.test-only"
INVENTORIES = [PRODUCTION, LAB, HA_EXAMPLE, LAB_HA]
INVENTORY_IDS = ["production", "lab", "ha-example", "lab-ha"]
NO_TAG = "squaremcp_site_argument_specs_only"  # no task carries it: only `always` tasks run
VALIDATION_TASK = re.compile(r"^squaremcp\.infra\.(\w+) : Validating arguments against arg spec 'main'")
# Roles that must run after others (what the later one needs from the earlier one).
DEPENDENCIES = (
    ("host", "traefik"),  # Docker engine and the external networks
    ("traefik", "cert_rotation"),  # Traefik's dynamic/ directory and the tree certs/ lives in
    ("host", "stacks"),  # Docker, Compose and the external networks
    ("traefik", "stacks"),  # the edge that routes to the stacks (security-headers@file, the networks it joins)
    ("traefik", "edge_failover"),  # the Traefik container whose health check moves the floating IP
    ("microk8s", "sealed_secrets"),  # the cluster
    ("traefik", "monitoring"),  # the routes it probes, the internal entry point it scrapes
    ("cert_rotation", "monitoring"),  # the textfile metrics its rules watch
    ("stacks", "backup"),  # the containers whose databases are dumped inside them
    ("sealed_secrets", "backup"),  # the key backup it stages
)


def layer_plays():
    """[(playbook, host pattern, [role names])] of the plays site.yml imports, in order."""
    plays = []
    for entry in yaml.safe_load((PLAYBOOKS / "site.yml").read_text()):
        playbook = PLAYBOOKS / entry["ansible.builtin.import_playbook"]
        for play in yaml.safe_load(playbook.read_text()):
            roles = [role["role"] if isinstance(role, dict) else role for role in play.get("roles", [])]
            for task in play.get("tasks", []):
                include = task.get("ansible.builtin.include_role") or task.get("ansible.builtin.import_role")
                if include and "tasks_from" not in include:
                    roles.append(include["name"])
            plays.append((playbook.name, play["hosts"], [role.rsplit(".", 1)[-1] for role in roles]))
    return plays


def run(args, **env):
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", **env)
    for name in ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_INVENTORY"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run([str(BIN / args[0])] + list(args[1:]), cwd=ROOT, env=environment,
                          capture_output=True, text=True, check=False, timeout=300)


def test_site_applies_every_role_in_dependency_order():
    plays = layer_plays()
    applied = [role for _playbook, _hosts, roles in plays for role in roles]
    roles = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    assert sorted(set(applied)) == roles, "site.yml must apply every role of roles/ (a new layer adds an import)"
    assert len(applied) == len(set(applied)), "a role applied twice: %s" % applied
    for earlier, later in DEPENDENCIES:
        assert applied.index(earlier) < applied.index(later), "%s must run before %s: %s" % (earlier, later, applied)


@pytest.mark.slow
@pytest.mark.parametrize("inventory", INVENTORIES, ids=INVENTORY_IDS)
def test_syntax(inventory):
    layers = sorted({playbook for playbook, _hosts, _roles in layer_plays()})
    playbooks = ["site.yml", "playbooks/site.yml"] + ["playbooks/" + name for name in layers]
    result = run(["ansible-playbook", "--syntax-check", "-i", str(inventory)] + playbooks)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("playbook: ") == len(playbooks), result.stdout


def layer_hosts(inventory):
    """{play's host pattern: hosts it selects} for the layer plays (group unions, !exclusions, [N] subscripts)."""
    result = run(["ansible-inventory", "-i", str(inventory), "--list"])
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    selected = {}
    for _playbook, pattern, _roles in layer_plays():
        hosts = []
        for part in pattern.split(":"):
            group, _bracket, index = part.lstrip("!").partition("[")
            members = listing.get(group, {}).get("hosts", [])
            chosen = members[int(index.rstrip("]")):][:1] if index else members
            if part.startswith("!"):
                hosts = [host for host in hosts if host not in chosen]
            else:
                hosts += [host for host in chosen if host not in hosts]
        selected[pattern] = hosts
    return selected


@pytest.mark.slow
@pytest.mark.parametrize("inventory", INVENTORIES, ids=INVENTORY_IDS)
def test_every_layer_has_hosts(inventory):
    selected = layer_hosts(inventory)
    for playbook, pattern, roles in layer_plays():
        # a play without a role of its own (the node exporter on hosts other than the monitoring host) may select none
        assert selected[pattern] or not roles, "%s: no host in %s of %s" % (playbook, pattern, inventory.name)


def test_the_split_inventories_spread_the_layers_over_several_hosts():
    """Nothing assumes one host: several edges, the cluster's API on one of three nodes, monitoring apart."""
    hosts = layer_hosts(HA_EXAMPLE)
    assert len(hosts["edge"]) == 2 and len(hosts["k8s_control_plane:k8s_workers"]) == 3
    assert hosts["k8s_control_plane[0]"] == ["k8s-1"]
    for inventory in (HA_EXAMPLE, LAB_HA):
        hosts = layer_hosts(inventory)
        assert len(hosts["edge"]) == 2 and len(hosts["docker_hosts"]) == 2  # stacks and backup on both edges
        # monitoring and drift_check on their own host; the edges get the node exporter play
        assert len(hosts["monitoring"]) == 1 and not set(hosts["monitoring"]) & set(hosts["edge"])
        assert sorted(hosts["edge:docker_hosts:!monitoring"]) == sorted(hosts["edge"])


def validation_playbook(tmp_path, keep_going=False):
    """One play per layer play: same hosts, same roles, nothing but the roles' argument validation.
    keep_going: a host whose validation fails stays in the run (ignore_errors), so every later layer is
    still validated even when a play of one host (k8s_control_plane[0]) loses it: Ansible ends the whole
    run when every host of a play has failed."""
    extra = {"ignore_errors": True} if keep_going else {}
    plays = [{"name": "%s: %s" % (playbook, " ".join(roles)), "hosts": hosts, "gather_facts": False,
              "roles": [dict({"role": "squaremcp.infra." + role}, **extra) for role in roles]}
             for playbook, hosts, roles in layer_plays()]
    path = tmp_path / "argument_specs.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def validate(tmp_path, inventory, *extra, keep_going=False):
    """Run every role's argument validation on its layer's hosts; {(role, host): result}."""
    result = run(["ansible-playbook", "-i", str(inventory), str(validation_playbook(tmp_path, keep_going)), "--check",
                  "--tags", NO_TAG, "-e", "ansible_connection=local", "-e", "ansible_host=127.0.0.1"] + list(extra),
                 ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    report = json.loads(result.stdout[result.stdout.index("{"):])
    outcomes = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            match = VALIDATION_TASK.match(task["task"]["name"])
            assert match, "not an argument validation task: %s" % task["task"]["name"]
            role = match.group(1)
            for host, outcome in task["hosts"].items():
                outcomes[(role, host)] = outcome
    return result, outcomes


def vault_placeholders(tmp_path):
    """-e file with vault.example.yml's placeholders (the values production's vault.yml must have)."""
    documented = yaml.safe_load((PRODUCTION / "vault.example.yml").read_text()) or {}
    path = tmp_path / "vault-placeholders.yml"
    path.write_text(yaml.safe_dump(documented))
    return path


def assert_every_role_validated(result, outcomes, inventory):
    failures = {key: outcome.get("msg") for key, outcome in outcomes.items() if outcome.get("failed")}
    assert result.returncode == 0 and not failures, failures or result.stderr[-3000:]
    selected = layer_hosts(inventory)
    expected = {(role, host) for _playbook, pattern, roles in layer_plays() for role in roles for host in selected[pattern]}
    assert sorted(outcomes) == sorted(expected)


@pytest.mark.slow
@pytest.mark.parametrize("inventory", [PRODUCTION, HA_EXAMPLE], ids=["production", "ha-example"])
def test_production_values_pass_every_role_argument_spec(tmp_path, inventory):
    result, outcomes = validate(tmp_path, inventory, "-e", "@%s" % vault_placeholders(tmp_path))
    assert_every_role_validated(result, outcomes, inventory)


@pytest.mark.slow
@pytest.mark.parametrize("inventory", [LAB, LAB_HA], ids=["lab", "lab-ha"])
def test_lab_values_pass_every_role_argument_spec(tmp_path, inventory):
    result, outcomes = validate(tmp_path, inventory, "--vault-password-file", str(LAB_VAULT_PASSWORD))
    assert_every_role_validated(result, outcomes, inventory)


# host name -> (its variables, the role whose validation must refuse them, a fragment of the message)
BROKEN = {
    "wrong-port": ({"traefik_http_port": "eighty"}, "traefik", "traefik_http_port"),
    "undocumented-vault-key": ({"cert_rotation_names": ["{{ vault_not_in_the_example }}"]}, "cert_rotation",
                               "vault_not_in_the_example"),
    "wrong-choice": ({"microk8s_ingress_class_strategy": "rewrite"}, "microk8s", "rewrite"),
    "secret-without-namespace": ({"sealed_secrets_secrets": [{"name": "hermes-secrets"}]}, "sealed_secrets",
                                 "namespace"),
    "wrong-install-method": ({"monitoring_install_method": "docker"}, "monitoring", "monitoring_install_method"),
}


def host_groups_named(group):
    """(name, group) of every group below ``group`` (nested children included) that lists hosts."""
    for name, child in (group.get("children") or {}).items():
        if child.get("hosts") is not None:
            yield name, child
        yield from host_groups_named(child)


@pytest.mark.slow
def test_broken_production_values_fail(tmp_path):
    """The same run on a copy of production with broken hosts beside the real one; each broken host
    fails exactly the validation of the role its values break, and every other role accepts it. The
    Sealed Secrets layer runs on the first control-plane node only, so the host that breaks it comes
    first there (and the run keeps failed hosts, or that play would end it before the later layers)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(PRODUCTION, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    for name, group in host_groups_named(hosts["all"]):
        group["hosts"].update(dict.fromkeys(BROKEN))
        if name == "k8s_control_plane":
            group["hosts"] = dict(dict.fromkeys(["secret-without-namespace"]), **group["hosts"])
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inventory / "host_vars").mkdir()
    for host, (variables, _role, _fragment) in BROKEN.items():
        (inventory / "host_vars" / (host + ".yml")).write_text(yaml.safe_dump(variables))
    result, outcomes = validate(tmp_path, inventory, "-e", "@%s" % vault_placeholders(tmp_path), keep_going=True)
    assert "Validating arguments" in result.stdout, result.stderr[-3000:]
    failed = {key: str(outcome.get("msg", "")) + json.dumps(outcome.get("argument_errors", []))
              for key, outcome in outcomes.items() if outcome.get("failed")}
    assert set(failed) == {(role, host) for host, (_variables, role, _fragment) in BROKEN.items()}, failed
    for host, (_variables, role, fragment) in BROKEN.items():
        assert fragment in failed[(role, host)], failed[(role, host)]

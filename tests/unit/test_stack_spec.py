# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_stack_spec.py: every refusal of the stacks role as data, and the Compose rendering.

The same refusals through ansible-playbook, with the running stack and its files compared byte for byte,
are tests/integration/test_stacks_role.py; ``docker compose config`` itself runs there and in Molecule.
"""

from __future__ import annotations

import copy
import pathlib

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_spec as spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAB = yaml.safe_load((ROOT / "inventory/lab/group_vars/docker_hosts/stacks.yml").read_text())["stacks_stacks"]
PRODUCTION = yaml.safe_load((ROOT / "inventory/production/group_vars/docker_hosts/stacks.yml").read_text())["stacks_stacks"]
HEALTH = {"test": ["CMD", "true"], "interval": "5s"}


def stacks(**services):
    return {"shop": {"networks": ["fetcherpay"], "secrets": {"db": {"vault": "vault_shop_db"}},
                     "services": services or {"web": {"image": "nginx:1.27", "healthcheck": HEALTH}}}}


def ok(stacks_):
    return {key: "ok" for key in spec.vault_vars(stacks_)}


def problems(stacks_, vault=None, live=None):
    return spec.problems(stacks_, ok(stacks_) if vault is None else vault, live)


def test_the_lab_inventory_passes():
    assert problems(LAB) == []


def test_production_is_refused_only_for_its_placeholders():
    found = problems(PRODUCTION, {key: "placeholder" for key in spec.vault_vars(PRODUCTION)})
    images = [p for p in found if ".image:" in p]
    vault = [p for p in found if ".vault:" in p]
    assert len(images) == 3 and all("PLACEHOLDER" in p for p in images)
    assert len(vault) == len(spec.vault_vars(PRODUCTION)) and len(found) == len(images) + len(vault)


def test_production_without_placeholders_passes():
    filled = copy.deepcopy(PRODUCTION)
    for stack in filled.values():
        for service in stack["services"].values():
            service["image"] = service["image"].replace("PLACEHOLDER/", "example/").replace("PLACEHOLDER", "1.0.0")
    assert problems(filled) == []


@pytest.mark.parametrize("service, fragment", [
    ({"image": "nginx:1.27"}, "stacks_stacks.shop.services.web: no health check: add stacks_stacks.shop.services.web."
                              "healthcheck (test, interval, ...) or, where none is possible, healthcheck_exempt"),
    ({"image": "nginx:1.27", "healthcheck": {"test": ["NONE"]}}, "no health check"),
    ({"image": "nginx:1.27", "healthcheck": {"test": ["CMD", "x"], "disable": True}}, "no health check"),
    ({"image": "nginx:1.27", "healthcheck_exempt": "  "}, "no health check"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "healthcheck_exempt": "why"}, "has both a healthcheck and"),
    ({"image": "nginx", "healthcheck": HEALTH}, "stacks_stacks.shop.services.web.image: image nginx has no tag"),
    ({"image": "nginx:latest", "healthcheck": HEALTH}, "uses the moving tag latest"),
    ({"image": "registry:5000/nginx", "healthcheck": HEALTH}, "has no tag"),
    ({"image": "x/app:PLACEHOLDER", "healthcheck": HEALTH}, "is a placeholder"),
    ({"healthcheck": HEALTH}, "no image"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "ports": ["80:8080"]},
     "stacks_stacks.shop.services.web.ports: host port 80 belongs to the edge"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "ports": ["127.0.0.1:443:8443/tcp"]}, "host port 443 belongs"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "ports": ["70-90:70-90"]}, "host port 80 belongs"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "ports": [{"target": 80, "published": 443}]}, "host port 443"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "ports": ["a:b"]}, "is not a port mapping"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "networks": ["hermes-net"]},
     "network hermes-net is not one of the stack's networks (fetcherpay): add it to stacks_stacks.shop.networks"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "depends_on": ["db"]}, "depends_on: db is not a service"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "secrets": ["other"]},
     "stacks_stacks.shop.services.web.secrets: secret other is not declared in stacks_stacks.shop.secrets"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "env_secrets": {"DB": "other"}}, "secret other is not declared"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "environment": {"DB_PASSWORD": "hunter2"}},
     "DB_PASSWORD looks like a secret in plain environment: put the value in the vault"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "envirnoment": {}}, "unknown key envirnoment"),
    ({"image": "nginx:1.27", "healthcheck": HEALTH, "restart": "sometimes"}, "restart: one of"),
])
def test_each_refusal_names_the_key_to_fix(service, fragment):
    found = problems(stacks(web=service))
    assert any(fragment in p for p in found), found


def test_a_secret_file_variable_and_the_default_network_are_fine():
    service = {"image": "postgres:16", "healthcheck": HEALTH, "networks": ["default", "fetcherpay"],
               "secrets": ["db"], "environment": {"POSTGRES_PASSWORD_FILE": "/run/secrets/db"},
               "ports": ["127.0.0.1:5432:5432", 8080, "9000"]}
    assert problems(stacks(web=service)) == []


@pytest.mark.parametrize("status, fragment", [
    ("undefined", "stacks_stacks.shop.secrets.db.vault: the vault does not define vault_shop_db"),
    ("empty", "vault_shop_db is empty in the vault"),
    ("placeholder", "vault_shop_db is still the CHANGE_ME placeholder"),
])
def test_a_secret_the_vault_does_not_give_is_refused(status, fragment):
    assert any(fragment in p for p in problems(stacks(), {"vault_shop_db": status}))


def test_an_env_secret_that_an_env_file_cannot_carry_is_refused_but_a_file_secret_may():
    web = {"image": "nginx:1.27", "healthcheck": HEALTH, "env_secrets": {"DB": "db"}}
    found = problems(stacks(web=web), {"vault_shop_db": "unsafe_for_env"})
    assert found == ["stacks_stacks.shop.services.web.env_secrets.DB: vault_shop_db holds a newline or a single quote, "
                     "which an env file cannot carry: use it as a file secret (secrets + a *_FILE variable) instead"]
    assert problems(stacks(web=dict(web, env_secrets={}, secrets=["db"])), {"vault_shop_db": "unsafe_for_env"}) == []


def test_vault_status_never_returns_the_value():
    assert [spec.vault_status(v) for v in [spec.UNDEFINED, "", "  ", None, "CHANGE_ME-x", "a'b", "a\nb", "p@ss $x"]] \
        == ["undefined", "empty", "empty", "empty", "placeholder", "unsafe_for_env", "unsafe_for_env", "ok"]


def test_names_and_ports_are_unique_across_stacks():
    two = {"a": {"services": {"x": {"image": "i:1", "healthcheck": HEALTH, "container_name": "same",
                                    "ports": ["8080:80"]}}},
           "b": {"services": {"y": {"image": "i:1", "healthcheck": HEALTH, "container_name": "same",
                                    "ports": ["127.0.0.1:8080:80"]},
                              "z": {"image": "i:1", "healthcheck": HEALTH, "ports": ["127.0.0.2:9000:80", "8080:80/udp"]},
                              "w": {"image": "i:1", "healthcheck": HEALTH, "ports": ["127.0.0.3:9000:80"]}}}}
    found = problems(two)
    assert found == [
        "stacks_stacks.b.services.y.container_name: container_name same is also used by stacks_stacks.a.services.x: "
        "container names must be unique on the host",
        "stacks_stacks.b.services.y.ports: host port 8080/tcp is also claimed by stacks_stacks.a.services.x: give one "
        "of them another port"]


def test_the_host_is_checked_for_networks_names_and_ports():
    live = spec.live_state(
        [{"Name": "bridge"}, {"Name": "fetcherpay"}],
        [{"Names": ["/web-1"], "Labels": {"com.docker.compose.project": "other"},
          "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]},
         {"Names": ["/mine"], "Labels": {"com.docker.compose.project": "shop"},
          "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 9090, "Type": "tcp"}]}])
    base = stacks(web={"image": "nginx:1.27", "healthcheck": HEALTH, "container_name": "web-1", "ports": ["8080:80"]},
                  own={"image": "nginx:1.27", "healthcheck": HEALTH, "container_name": "mine", "ports": ["9090:80"]})
    base["shop"]["networks"] = ["fetcherpay", "obsidian-net"]
    assert problems(base, live=live) == [
        "stacks_stacks.shop.networks: network obsidian-net does not exist on this host: the host role creates it (add it "
        "to host_docker_networks and run playbooks/host.yml)",
        "stacks_stacks.shop.services.web.container_name: container_name web-1 is taken by a container of project other "
        "on this host: rename one of them",
        "stacks_stacks.shop.services.web.ports: host port 8080/tcp is published by container web-1 on this host: pick "
        "another port"]


def test_rendering_escapes_dollars_and_waits_for_healthy_dependencies():
    rendered = spec.render(LAB, "/opt/stacks")
    fetcherpay = rendered["compose"]["fetcherpay"]
    api, redis = fetcherpay["services"]["api"], fetcherpay["services"]["redis"]
    assert api["depends_on"] == {"postgres": {"condition": "service_healthy"}, "redis": {"condition": "service_healthy"}}
    assert api["env_file"] == ["./secrets/api.env"] and "env_secrets" not in api
    assert redis["command"][2].startswith('exec redis-server --requirepass "$$(cat /run/secrets/redis_password)"')
    assert fetcherpay["secrets"] == {name: {"file": "./secrets/%s" % name} for name in
                                     ["gitea_db_password", "mysql_root_password", "postgres_password", "redis_password"]}
    assert fetcherpay["networks"] == {"fetcherpay": {"external": True}}
    assert all(s["labels"]["squaremcp.stack"] == "fetcherpay" for s in fetcherpay["services"].values())
    assert rendered["check_text"]["fetcherpay"].count("/dev/null") == 1
    assert yaml.safe_load(rendered["compose_text"]["fetcherpay"]) == fetcherpay
    assert rendered["compose_text"]["fetcherpay"].startswith("# Managed by squaremcp.infra.stacks")


def test_rendered_files_carry_vault_names_and_the_module_input_their_values():
    rendered = spec.render(LAB, "/opt/stacks")
    assert {"stack": "fetcherpay", "name": "gitea_db_password", "vault": "vault_fetcherpay_gitea_db_password",
            "path": "/opt/stacks/fetcherpay/secrets/gitea_db_password", "mode": "0444", "owner": "root",
            "group": "root", "services": ["gitea", "mysql"]} in rendered["secret_files"]
    values = {key: "value-of-" + key for key in rendered["vault_vars"]}
    hermes = next(s for s in spec.module_stacks(rendered, values) if s["name"] == "hermes")
    assert hermes["secret_files"] == []
    assert hermes["env_files"] == [{"service": "hermes", "variables": [
        {"name": "OAUTH_JWT_SECRET", "value": "value-of-vault_hermes_oauth_jwt_secret"},
        {"name": "SMTP_PASSWORD", "value": "value-of-vault_hermes_smtp_password"}]}]
    assert "value-of" not in str(rendered)

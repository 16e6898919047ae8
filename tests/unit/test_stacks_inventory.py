# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stacks of both inventories fit the edge and the host of the same inventory.

Traefik cannot run here, so the contract between the stacks' docker-provider labels and the edge's
configuration is checked as data: networks Traefik joins and the host role creates, entry points of the
static configuration, the resolver, @file middlewares the edge defines, v3 rule syntax (the collection's
checker), router names unique across both providers, and the containers the edge's file-provider
services point at (Hermes: http://hermes-mcp:3000).
"""

from __future__ import annotations

import pathlib
import urllib.parse

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import _traefik_rules as traefik

ROOT = pathlib.Path(__file__).resolve().parents[2]
INVENTORIES = ["production", "lab"]


def load(inventory, group, role):
    return yaml.safe_load((ROOT / "inventory" / inventory / "group_vars" / group / ("%s.yml" % role)).read_text())


def services(inventory):
    stacks = load(inventory, "docker_hosts", "stacks")["stacks_stacks"]
    return stacks, [(stack, name, service) for stack, body in stacks.items()
                    for name, service in body["services"].items()]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_stack_networks_are_the_host_roles_and_the_edges(inventory):
    stacks, _services = services(inventory)
    host = {n["name"] for n in load(inventory, "docker_hosts", "host")["host_docker_networks"]}
    edge = set(load(inventory, "edge", "traefik")["traefik_networks"])
    used = {network for body in stacks.values() for network in body.get("networks", [])}
    assert used and used <= host and used <= edge


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_docker_provider_labels_match_the_edge(inventory):
    edge = load(inventory, "edge", "traefik")
    _stacks, found = services(inventory)
    file_routers = set(edge["traefik_routes_routers"])
    routers = []
    for stack, name, service in found:
        labels = service.get("labels") or {}
        if labels.get("traefik.enable") != "true":
            continue
        where = "%s/%s" % (stack, name)
        assert labels["traefik.docker.network"] in service["networks"], where
        assert labels["traefik.docker.network"] in edge["traefik_networks"], where
        named = {key.split(".")[3] for key in labels if key.startswith("traefik.http.routers.")}
        assert len(named) == 1, where
        router = named.pop()
        routers.append(router)
        prefix = "traefik.http.routers.%s." % router
        assert labels[prefix + "entrypoints"] == "websecure", where
        assert labels[prefix + "tls.certresolver"] == "letsencrypt", where
        assert traefik.rule_hosts(labels[prefix + "rule"]), where
        for middleware in labels[prefix + "middlewares"].split(","):
            assert middleware.endswith("@file") and middleware[:-5] in edge["traefik_routes_middlewares"], where
        assert labels["traefik.http.services.%s.loadbalancer.server.port" % router].isdigit(), where
    assert "fetcherpay-api" in routers and len(set(routers)) == len(routers)
    assert not set(routers) & file_routers


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_edges_file_services_reach_stack_containers(inventory):
    edge = load(inventory, "edge", "traefik")
    _stacks, found = services(inventory)
    containers = {service.get("container_name"): service for _stack, _name, service in found}
    for name, body in edge["traefik_routes_services"].items():
        for server in body["loadBalancer"]["servers"]:
            url = urllib.parse.urlsplit(server["url"])
            if url.hostname in ("host.docker.internal",) or url.hostname.endswith(".k8s.internal"):
                continue
            target = containers.get(url.hostname)
            assert target, "%s: %s is no stack's container_name" % (name, url.hostname)
            assert set(target["networks"]) & set(edge["traefik_networks"]), name
            assert url.port == 3000 and any("3000" in str(part) for part in target["healthcheck"]["test"]), name


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_hermes_has_a_health_check_on_health_and_monitoring_left_the_stacks(inventory):
    _stacks, found = services(inventory)
    hermes = next(service for stack, _name, service in found if service.get("container_name") == "hermes-mcp")
    assert "http://127.0.0.1:3000/health" in " ".join(hermes["healthcheck"]["test"])
    images = " ".join(service["image"] for _stack, _name, service in found)
    assert "prometheus" not in images and "grafana" not in images


def published_host_ports(inventory):
    """{host port: "stack.service"} of every port a stack publishes on the host."""
    _stacks, items = services(inventory)
    published = {}
    for stack, name, service in items:
        for port in service.get("ports", []):
            parts = str(port).split("/", maxsplit=1)[0].split(":")
            if len(parts) >= 2:
                published[int(parts[-2])] = "%s.%s" % (stack, name)
    return published


def monitoring_own_ports(inventory):
    """The host ports the monitoring role's own services listen on (role defaults, then the inventory)."""
    settings = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())
    settings.update(load(inventory, "monitoring", "monitoring"))
    return {int(value): key for key, value in settings.items() if key.endswith("_port") and str(value).isdigit()}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_loopback_scrape_targets_are_published_by_a_stack_and_clash_with_nothing(inventory):
    # Prometheus runs on the host's network: a 127.0.0.1 target must be a port a stack publishes there, and
    # not one of the monitoring services' own ports (else the job scrapes Grafana and reports "up").
    settings = load(inventory, "monitoring", "monitoring")
    targets = [target for job in settings.get("monitoring_extra_scrape_configs", [])
               for static in job.get("static_configs", []) for target in static["targets"]
               if target.split(":")[0] in ("127.0.0.1", "localhost")]
    published, own = published_host_ports(inventory), monitoring_own_ports(inventory)
    for target in targets:
        port = int(target.rsplit(":", 1)[1])
        assert port in published, "%s: %s is published by no stack" % (inventory, target)
        assert port not in own, "%s: %s is also %s" % (inventory, target, own[port])
    clashes = {port: (published[port], own[port]) for port in set(published) & set(own)}
    assert not clashes, "%s: stacks publish ports the monitoring role listens on: %s" % (inventory, clashes)


def test_production_watches_the_edge_project_the_traefik_role_writes():
    """stacks_watchdog_extra_projects names the traefik role's project and compose file (its defaults, unless the
    edge's group_vars set them), on a host that is both edge and Docker host. The lab does not: the Molecule
    outage scenario stops its edge on purpose for the runbook to find."""
    defaults = yaml.safe_load((ROOT / "roles" / "traefik" / "defaults" / "main.yml").read_text())
    edge = dict(defaults, **load("production", "edge", "traefik"))
    watched = load("production", "docker_hosts", "stacks")["stacks_watchdog_extra_projects"]
    assert watched == {edge["traefik_project_name"]: "%s/compose.yml" % edge["traefik_compose_dir"]}
    groups = yaml.safe_load((ROOT / "inventory" / "production" / "hosts.yml").read_text())["all"]["children"]
    children = groups["managed_hosts"]["children"]
    assert set(children["docker_hosts"]["hosts"]) <= set(children["edge"]["hosts"])
    assert "stacks_watchdog_extra_projects" not in load("lab", "docker_hosts", "stacks")

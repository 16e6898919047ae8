# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The production edge data (inventory/production/group_vars/edge/traefik.yml) against the validator,
against the static configuration the role really renders for production, and against the seed's
route table: which router would Traefik pick for each public endpoint?"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import yaml

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_checks import check_static
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_config import load_text
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_references import Context, validate
from tests.traefik_simulator import route_request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "traefik")
PRODUCTION = os.path.join(ROOT, "inventory", "production", "group_vars")


def production_templar():
    """The role's defaults and vars overlaid with the production edge group_vars, loaded like Ansible loads
    them (trusted templates); the vault is not needed for what is rendered here."""
    loader = DataLoader()
    variables = {"ansible_managed": "Ansible managed"}
    for path in (os.path.join(ROLE, "defaults", "main.yml"), os.path.join(ROLE, "vars", "main.yml"),
                 os.path.join(PRODUCTION, "edge", "traefik.yml")):
        variables.update(loader.load_from_file(path, trusted_as_template=True))
    return Templar(loader=loader, variables=variables)


def render(templar, name):
    with open(os.path.join(ROLE, "templates", name)) as handle:
        return templar.template(trust_as_template(handle.read()))


TEMPLAR = production_templar()
EDGE = {name: TEMPLAR.template(TEMPLAR.available_variables[name])
        for name in ("traefik_routes_routers", "traefik_routes_services", "traefik_routes_middlewares",
                     "traefik_extra_hosts")}
ROUTERS = EDGE["traefik_routes_routers"]
STATIC = load_text(render(TEMPLAR, "traefik.yml.j2"), "traefik.yml")
COMPOSE = yaml.safe_load(render(TEMPLAR, "compose.yml.j2"))
with open(os.path.join(PRODUCTION, "k8s_control_plane", "microk8s.yml")) as handle:
    MICROK8S = yaml.safe_load(handle)
COMMERCIAL = ("squaremcp.com", "www.squaremcp.com")
HERMES_HOST = "mcp.squaremcp.com"
# Findings §4: Hermes public, OAuth and MCP discovery endpoints, and a few capability-guarded tool routes.
HERMES_ENDPOINTS = [
    ("GET", "/"), ("GET", "/openapi-living-brief.json"), ("GET", "/openapi.json"), ("GET", "/auth/tiktok/start"),
    ("GET", "/auth/tiktok/callback"), ("POST", "/api/pilot-request"), ("GET", "/health"),
    ("POST", "/oauth/register"), ("GET", "/oauth/authorize"), ("POST", "/oauth/authorize"), ("POST", "/oauth/token"),
    ("GET", "/.well-known/oauth-authorization-server"), ("GET", "/.well-known/openid-configuration"),
    ("GET", "/mcp"), ("POST", "/mcp"), ("DELETE", "/mcp"), ("GET", "/sse"), ("POST", "/messages"), ("GET", "/tools"),
    ("GET", "/api/obsidian/search"), ("POST", "/api/email/send"), ("GET", "/api/tiktok/video/status"),
]


def test_production_routes_pass_the_validator_against_the_rendered_static_config():
    assert check_static(STATIC) == []
    doc = {"http": {"routers": ROUTERS, "services": EDGE["traefik_routes_services"],
                    "middlewares": EDGE["traefik_routes_middlewares"]}}
    assert validate(doc, Context(static=STATIC), where="routes.yml") == []
    # the check has teeth: an entry point or resolver the rendered file lacks is refused
    wrong = dict(ROUTERS, bad=dict(ROUTERS["hermes"], entryPoints=["https"], tls={"certResolver": "le"}))
    problems = validate(dict(doc, http=dict(doc["http"], routers=wrong)), Context(static=STATIC), where="routes.yml")
    assert len(problems) == 2, problems


def test_cluster_hosted_sites_go_to_the_ingress_host_port_through_the_host_gateway():
    """Design (group_vars/k8s_control_plane/microk8s.yml): Docker's Traefik owns 80/443 and routes the
    cluster-hosted hosts to the cluster ingress on the host's port; nothing else can resolve them."""
    assert MICROK8S["microk8s_edge_owner"] == "docker"
    services = EDGE["traefik_routes_services"]
    hosts_file = dict(entry.split(":", 1) for entry in COMPOSE["services"]["traefik"]["extra_hosts"])
    assert hosts_file == {"host.docker.internal": "host-gateway"}
    for router in ("squaremcp-site", "squaremcp-app", "squaremcp-docs"):
        service = services[ROUTERS[router]["service"]]["loadBalancer"]
        url = urlsplit(service["servers"][0]["url"])
        assert (url.scheme, url.hostname, url.port) == (
            "http", "host.docker.internal", MICROK8S["microk8s_ingress_host_ports"]["http"]), router
        assert service.get("passHostHeader") is True, "the ingress picks the Ingress by the Host header"


def test_every_upstream_is_reachable_by_name_from_the_container():
    """Each server URL names a host the container can resolve: an extra_hosts entry or a container on one
    of its networks (hermes-mcp on hermes-net; its name is a placeholder the operator confirms)."""
    known = {entry.split(":", 1)[0] for entry in EDGE["traefik_extra_hosts"]} | {"hermes-mcp"}
    for name, service in EDGE["traefik_routes_services"].items():
        for server in service["loadBalancer"]["servers"]:
            assert urlsplit(server["url"]).hostname in known, (name, server["url"])


def test_every_router_is_https_with_a_certificate():
    for name, router in ROUTERS.items():
        assert router["entryPoints"] == ["websecure"], name
        assert router["tls"] == {"certResolver": "letsencrypt"}, name


@pytest.mark.parametrize("method, path", HERMES_ENDPOINTS)
def test_every_hermes_endpoint_reaches_hermes_through_the_edge(method, path):
    router = route_request(ROUTERS, HERMES_HOST, path, method=method, entry_point="websecure")
    assert ROUTERS[router]["service"] == "hermes"


@pytest.mark.parametrize("host", COMMERCIAL)
@pytest.mark.parametrize("method, path, router", [
    ("POST", "/api/pilot-request", "hermes-pilot-request"),
    ("GET", "/auth/tiktok/start", "hermes-tiktok-auth"),
    ("GET", "/auth/tiktok/callback", "hermes-tiktok-auth"),
    ("GET", "/", "squaremcp-site"),
    ("GET", "/api/pilot-request/other", "squaremcp-site"),
    ("GET", "/auth/tiktokx", "squaremcp-site"),
])
def test_path_routers_win_over_the_commercial_catch_all(host, method, path, router):
    assert route_request(ROUTERS, host, path, method=method, entry_point="websecure") == router


def test_path_routers_outrank_catch_alls_by_priority_not_by_rule_length():
    catch_alls = [r["priority"] for r in ROUTERS.values() if "Path" not in r["rule"]]
    path_routers = [r["priority"] for r in ROUTERS.values() if "Path" in r["rule"]]
    assert min(path_routers) > max(catch_alls)


@pytest.mark.parametrize("host, router", [("app.squaremcp.com", "squaremcp-app"), ("docs.squaremcp.com", "squaremcp-docs"),
                                          ("unknown.squaremcp.com", None)])
def test_each_commercial_host_has_its_router(host, router):
    assert route_request(ROUTERS, host, "/", entry_point="websecure") == router


def test_route_request_follows_traefik_priority_rules():
    routers = {"long": {"rule": "Host(`a.com`) && PathPrefix(`/`)"}, "short": {"rule": "Host(`a.com`)"},
               "explicit": {"rule": "Host(`a.com`) && Method(`POST`)", "priority": 1000},
               "web-only": {"rule": "Host(`a.com`) && Path(`/only-web`)", "entryPoints": ["web"], "priority": 2000}}
    assert route_request(routers, "a.com", "/x") == "long", "without priority the longer rule wins"
    assert route_request(routers, "a.com", "/x", method="POST") == "explicit"
    assert route_request(routers, "A.COM.", "/x") == "long", "host names compare case-insensitively, FQDN dot allowed"
    assert route_request(routers, "a.com", "/only-web", entry_point="websecure") == "long"
    assert route_request(routers, "a.com", "/only-web", entry_point="web") == "web-only"
    assert route_request(routers, "b.com", "/") is None

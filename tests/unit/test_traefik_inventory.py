# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The production edge data (inventory/production/group_vars/edge/traefik.yml) against the validator
and against the seed's route table: which router would Traefik pick for each public endpoint?"""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils.traefik import Context, route_request, validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "inventory", "production", "group_vars", "edge", "traefik.yml")) as handle:
    EDGE = yaml.safe_load(handle)
ROUTERS = EDGE["traefik_routes_routers"]
# Entry points and resolver of the role's static template (roles/traefik/templates/traefik.yml.j2).
STATIC = {"entryPoints": {"web": {}, "websecure": {}, "internal": {}}, "certificatesResolvers": {"letsencrypt": {}}}
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


def test_production_routes_pass_the_validator():
    doc = {"http": {"routers": ROUTERS, "services": EDGE["traefik_routes_services"],
                    "middlewares": EDGE["traefik_routes_middlewares"]}}
    assert validate(doc, Context(static=STATIC), where="routes.yml") == []


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

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dynamic-config validator (one file in its directory), static-config checker and the CLI entry."""

from __future__ import annotations

import copy
import os
import textwrap

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _traefik_config as traefik
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_checks import check_static
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import htpasswd_problems
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_references import Context, validate

GOOD = {
    "http": {
        "routers": {
            "site": {"rule": "Host(`squaremcp.com`)", "service": "site", "entryPoints": ["websecure"],
                     "middlewares": ["headers"], "tls": {"certResolver": "letsencrypt"}},
            "dashboard": {"rule": "Host(`traefik.squaremcp.com`)", "service": "api@internal",
                          "middlewares": ["admins"], "tls": {"certResolver": "letsencrypt"}},
        },
        "services": {"site": {"loadBalancer": {"servers": [{"url": "http://site:80"}],
                                               "healthCheck": {"path": "/health", "interval": "10s"}}}},
        "middlewares": {"headers": {"headers": {"stsSeconds": 31536000}},
                        "admins": {"basicAuth": {"users": ["admin:$2y$05$abcdefgh"]}}},
    }
}
STATIC = {"entryPoints": {"web": {"address": ":80"}, "websecure": {"address": ":443"}},
          "certificatesResolvers": {"letsencrypt": {"acme": {}}}}


def with_change(path, value):
    """Copy of GOOD with one dotted path set (value None deletes it)."""
    doc = copy.deepcopy(GOOD)
    keys = path.split(".")
    node = doc
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return doc


def test_good_document_has_no_problems():
    assert validate(GOOD, Context(static=STATIC)) == []


@pytest.mark.parametrize("path, value, message", [
    ("http.routers.site.rule", "Host(`a`,`b`)", "http.routers.site.rule: Host(`a`, `b`) is Traefik v2 syntax"),
    ("http.routers.site.rulle", "x", "http.routers.site.rulle: unknown key (did you mean 'rule'?)"),
    ("http.routers.site.service", "nope", "service 'nope' is not defined in this file or any other file"),
    ("http.routers.site.service", "site@dokcer", "unknown provider 'dokcer' in site@dokcer (did you mean 'docker'?)"),
    ("http.routers.site.service", "apii@internal", "apii@internal is not an internal service"),
    ("http.routers.site.middlewares", ["headrs"], "middleware 'headrs' is not defined"),
    ("http.routers.site.entryPoints", ["webscure"], "'webscure' is not an entry point of the static config"),
    ("http.routers.site.tls", {"certResolver": "le"}, "'le' is not a certificatesResolvers entry"),
    ("http.routers.site.tls", {"options": "modern"}, "TLS options 'modern' are not defined under tls.options"),
    ("http.routers.site.tls", True, "http.routers.site.tls: must be a mapping, got a boolean"),
    ("http.routers.site.priority", "high", "priority: must be an integer"),
    ("http.routers.site.priority", -1, "priority: must be 0 or more"),
    ("http.routers.site.ruleSyntax", "v2", "ruleSyntax: 'v2' is deprecated"),
    ("http.routers.site.service", None, "http.routers.site: service is required"),
    ("http.routers.bad@name", {"rule": "Host(`a`)", "service": "site"}, "'@' is not allowed in a name"),
    ("http.services.site", {"loadBalancer": {"servers": []}}, "list at least one server"),
    ("http.services.site", {"loadBalancer": {"servers": [{"url": "site:80"}]}}, "site:80 is not a URL"),
    ("http.services.site", {"loadBalancer": {"servers": [{"url": "ftp://site"}]}}, "scheme must be http, https or h2c"),
    ("http.services.site", {"loadBalancer": {"servers": [{"url": "http://site:99999"}]}}, "port '99999'"),
    ("http.services.site", {"loadBalancer": {"servers": [{"url": "http://s"}]}, "weighted": {}},
     "needs exactly one of failover, loadBalancer, mirroring, weighted"),
    ("http.services.site", {"loadbalancer": {}}, "unknown service kind (did you mean 'loadBalancer'?)"),
    ("http.services.site.loadBalancer.passHostHeader", "yes", "passHostHeader: must be a boolean"),
    ("http.services.site", {"mirroring": {"mirrors": [{"name": "site", "percent": 10}]}},
     "http.services.site.mirroring.service: required"),
    ("http.services.site", {"failover": {"fallback": "site"}}, "http.services.site.failover.service: required"),
    ("http.services.site", {"failover": {"service": "site"}}, "http.services.site.failover.fallback: required"),
    ("http.middlewares.headers", {"rateLimit": {"average": 1, "redis": {"endpoint": "r:6379"}}},
     "rateLimit.redis.endpoint: unknown key (did you mean 'endpoints'?)"),
    ("http.services.site.loadBalancer.healthCheck.interval", "10 seconds", "a duration such as 10s"),
    ("http.middlewares.headers", {"ipWhiteList": {"sourceRange": ["10.0.0.0/8"]}}, "use ipAllowList"),
    ("http.middlewares.headers", {"headers": {"sslRedirect": True}}, "use a redirectScheme middleware"),
    ("http.middlewares.headers", {"stripPrefix": {"prefixes": ["/a"], "forceSlash": True}}, "forceSlash was removed"),
    ("http.middlewares.headers", {"ipAllowList": {"sourceRange": ["10.0.0.0/40"]}}, "not an IP address or CIDR"),
    ("http.middlewares.headers", {"chain": {"middlewares": ["headers"]}}, "a chain cannot contain itself"),
    ("http.middlewares.headers", {"chain": {"middlewares": ["missing"]}}, "middleware 'missing' is not defined"),
    ("http.middlewares.admins", {"basicAuth": {"users": ["admin"]}}, "must be name:hash"),
    ("http.middlewares.admins", {"basicAuth": {}}, "give users or usersFile"),
    ("http.routers.dashboard.middlewares", [], "routes the Traefik API/dashboard (api@internal) without authentication"),
    ("http.routers.dashboard.middlewares", ["headers"], "without authentication"),
    ("http.routers.dashboard.tls", None, "routes the Traefik API/dashboard over plain HTTP"),
    ("http.routers.site.rule", "Host(`{{ domain }}`)", "Go-template syntax"),
    ("http.middlewares.headers.headers.customRequestHeaders", {"X": "{{ x }}"}, "evaluates as a Go template"),
    ("https", {}, "https: unknown top-level key (did you mean 'http'?)"),
    ("http.router", {}, "http.router: unknown key (did you mean 'routers'?)"),
])
def test_bad_documents_name_the_entry_and_the_fix(path, value, message):
    problems = validate(with_change(path, value), Context(static=STATIC), where="routes.yml")
    assert any(message in p for p in problems), problems
    assert all(p.startswith("routes.yml: ") for p in problems)


def test_rate_limit_with_redis_and_complete_failover_and_mirroring_services_are_accepted():
    doc = copy.deepcopy(GOOD)
    doc["http"]["middlewares"]["limit"] = {"rateLimit": {"average": 10, "period": "1m", "burst": 20, "redis": {
        "endpoints": ["redis:6379"], "username": "traefik", "password": "s3cret", "db": 2, "poolSize": 50,
        "minIdleConns": 1, "maxActiveConns": 10, "readTimeout": "3s", "writeTimeout": "3s", "dialTimeout": "5s",
        "tls": {"ca": "/ca.pem", "insecureSkipVerify": False}}}}
    doc["http"]["services"]["spare"] = {"loadBalancer": {"servers": [{"url": "http://spare:80"}]}}
    doc["http"]["services"]["safe"] = {"failover": {"service": "site", "fallback": "spare"}}
    doc["http"]["services"]["copy"] = {"mirroring": {"service": "site", "mirrors": [{"name": "spare", "percent": 5}]}}
    assert validate(doc, Context(static=STATIC)) == []
    shown, found = traefik.redact(doc)
    assert found and shown["http"]["middlewares"]["limit"]["rateLimit"]["redis"]["password"] == "<redacted>"
    assert doc["http"]["middlewares"]["limit"]["rateLimit"]["redis"]["password"] == "s3cret"


SHARED = {"http": {"services": {"shared": {"loadBalancer": {"servers": [{"url": "http://shared:80"}]}}},
                   "middlewares": {"hsts": {"headers": {"stsSeconds": 1}}}}}
USER = {"http": {"routers": {"app": {"rule": "Host(`app.a`)", "service": "shared", "middlewares": ["hsts", "gone"]}}}}


@pytest.mark.parametrize("new, removed", [
    ({}, ["middlewares: removing middleware hsts", "services: removing service shared"]),
    ({"http": {"services": SHARED["http"]["services"]}}, ["middlewares: removing middleware hsts"]),
    (SHARED, []),
])
def test_removing_what_another_file_uses_is_refused(new, removed):
    context = Context({"/d/other.yml": USER})
    problems = validate(new, context, where="routes.yml", previous=SHARED)
    assert len(problems) == len(removed), problems
    for problem, what in zip(problems, removed):
        assert problem.startswith("routes.yml: http.%s breaks router app in /d/other.yml: " % what), problem
        assert "keep it in this file, or change /d/other.yml first" in problem
    # without the previous version (a new file) nothing can break, and 'gone' was dangling already
    assert validate(new, context, where="routes.yml") == []


def test_losing_the_auth_middleware_of_another_files_dashboard_is_refused():
    dashboard = {"http": {"routers": {"dash": {"rule": "Host(`t.a`)", "service": "api@internal",
                                               "middlewares": ["secured"], "tls": {}}},
                          "middlewares": {"secured": {"chain": {"middlewares": ["hsts", "auth@file"]}}}}}
    before = copy.deepcopy(SHARED)
    before["http"]["middlewares"]["auth"] = {"basicAuth": {"users": ["a:$2y$05$x"]}}
    problems = validate(SHARED, Context({"/d/dashboard.yml": dashboard}), where="routes.yml", previous=before)
    assert any("removing middleware auth breaks middleware secured in /d/dashboard.yml" in p for p in problems), problems
    assert any("this change breaks /d/dashboard.yml: http.routers.dash: routes the Traefik API/dashboard" in p
               and "without authentication" in p for p in problems), problems


def test_dashboard_auth_may_come_through_a_chain_in_another_file():
    doc = with_change("http.routers.dashboard.middlewares", ["secured"])
    other = {"http": {"middlewares": {"secured": {"chain": {"middlewares": ["auth@file"]}},
                                      "auth": {"forwardAuth": {"address": "http://auth:4181"}}}}}
    assert validate(doc, Context({"/d/auth.yml": other})) == []


def test_references_resolve_in_other_files_and_other_providers():
    doc = {"http": {"routers": {"r": {"rule": "Host(`a`)", "service": "shared@file",
                                      "middlewares": ["hsts", "crowdsec@docker"], "tls": {"options": "modern@file"}}}}}
    others = {"/d/shared.yml": {"http": {"services": {"shared": {"loadBalancer": {"servers": [{"url": "http://s"}]}}},
                                         "middlewares": {"hsts": {"headers": {"stsSeconds": 1}}}},
                                "tls": {"options": {"modern": {"minVersion": "VersionTLS13"}}}}}
    assert validate(doc, Context(others)) == []
    problems = validate(doc, Context())
    assert len(problems) == 3, problems


def test_duplicate_names_across_files_are_refused():
    others = {"/d/certificates.yml": {"http": {"routers": {"site": {"rule": "Host(`x`)", "service": "site"}}},
                                      "tls": {"options": {"default": {}}}},
              "/d/zz.yml": {"http": {"services": {"site": {"loadBalancer": {"servers": [{"url": "http://x"}]}}}}}}
    doc = with_change("tls", {"options": {"default": {"minVersion": "VersionTLS12"}}})
    problems = validate(doc, Context(others, STATIC))
    assert any("http.routers.site is also defined in /d/certificates.yml" in p and "keeps only the first" in p
               for p in problems)
    assert any("http.services.site is also defined in /d/zz.yml" in p for p in problems)
    assert any("tls.options.default is also defined in /d/certificates.yml" in p for p in problems)


def test_tcp_udp_and_tls_sections_are_checked():
    doc = {"tcp": {"routers": {"db": {"rule": "HostSNI(`db.a`)", "service": "db", "tls": {"passthrough": True}},
                               "bad": {"rule": "Host(`a`)", "service": "db"}},
                   "services": {"db": {"loadBalancer": {"servers": [{"address": "db:5432"}, {"address": "db"}]}}}},
           "udp": {"routers": {"dns": {"service": "missing"}}},
           "tls": {"certificates": [{"certFile": "/c.pem", "keyFile": "/k.pem", "extra": 1}]}}
    problems = validate(doc)
    assert any("tcp.routers.bad.rule: unknown matcher Host" in p for p in problems)
    assert any("servers[1].address: 'db' is not host:port" in p for p in problems)
    assert any("udp.routers.dns.service" in p and "not defined" in p for p in problems)
    assert any("tls.certificates[0].extra: unknown key" in p for p in problems)
    assert len(problems) == 4, problems


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(textwrap.dedent(text))


def test_directory_is_read_like_traefik_reads_it(tmp_path):
    root = str(tmp_path)
    write(root + "/b.yml", "http: {routers: {r1: {rule: 'Host(`a`)', service: s}}}\n")
    write(root + "/a.toml", '[http.services.s.loadBalancer]\nservers = [{url = "http://s"}]\n')
    write(root + "/sub/c.YAML", "http: {middlewares: {m: {headers: {stsSeconds: 1}}}}\n")
    write(root + "/routes.yml", "{}\n")
    write(root + "/.routes.yml.x.tmp", "not: [yaml\n")
    write(root + "/notes.txt", "ignored\n")
    assert traefik.directory_files(root, exclude=[root + "/routes.yml"]) == [
        root + "/a.toml", root + "/b.yml", root + "/sub/c.YAML"]
    context = Context(traefik.load_directory(root, exclude=[root + "/routes.yml"]))
    assert context.defined("http", "routers") == {"r1": root + "/b.yml"}
    assert context.defined("http", "services") == {"s": root + "/a.toml"}
    assert context.defined("http", "middlewares") == {"m": root + "/sub/c.YAML"}


def test_an_unparsable_other_file_is_reported(tmp_path):
    write(str(tmp_path / "broken.yml"), "http:\n  routers: [unclosed\n")
    write(str(tmp_path / "dupkeys.yml"), "http:\n  routers: {}\n  routers: {}\n")
    with pytest.raises(traefik.TraefikConfigError) as err:
        traefik.load_directory(str(tmp_path))
    assert len(err.value.problems) == 2
    assert "broken.yml does not parse as YAML" in err.value.problems[0]
    assert "Traefik drops every file-provider route" in err.value.problems[0]
    assert "found duplicate key 'routers'" in err.value.problems[1]


STATIC_GOOD = """
entryPoints:
  web:
    address: ":80"
    http:
      redirections:
        entryPoint: {to: websecure, scheme: https, permanent: true}
  websecure: {address: ":443"}
  internal: {address: ":8082"}
api: {dashboard: true, insecure: false}
ping: {entryPoint: internal}
metrics: {prometheus: {entryPoint: internal}}
providers:
  docker: {exposedByDefault: false, network: fetcherpay}
  file: {directory: /etc/traefik/dynamic, watch: true}
certificatesResolvers:
  letsencrypt:
    acme:
      email: ops@squaremcp.com
      storage: /letsencrypt/acme.json
      dnsChallenge: {provider: godaddy}
accessLog: {filePath: /var/log/traefik/access.log, format: json}
log: {level: INFO}
"""


def static_with(path, value):
    doc = traefik.load_text(STATIC_GOOD, "traefik.yml")
    keys = path.split(".")
    node = doc
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1])
    else:
        node[keys[-1]] = value
    return doc


def test_static_good():
    assert check_static(traefik.load_text(STATIC_GOOD, "traefik.yml")) == []


@pytest.mark.parametrize("path, value, message", [
    ("api.insecure", True, "api.insecure: true serves the dashboard and API without authentication"),
    ("providers.file", {"filename": "/letsencrypt/manual/tls.yml", "watch": True}, "point the file provider at a directory"),
    ("providers.file.watch", False, "route changes need a restart"),
    ("providers.docker.exposedByDefault", None, "exposedByDefault: set it to false"),
    ("ping.entryPoint", "websecure", "'websecure' is a public entry point"),
    ("metrics.prometheus.entryPoint", "metrics", "entry point 'metrics' is not defined"),
    ("entryPoints.internal.address", "8082", "is not [host]:port"),
    ("entryPoints.internal.address", ":443", "port 443 is already used by entry point websecure"),
    ("entryPoints.web.http.redirections.entryPoint.to", "webscure", "'webscure' is neither an entry point nor a port"),
    ("certificatesResolvers.letsencrypt.acme.httpChallenge", {"entryPoint": "web"}, "exactly one of dnsChallenge"),
    ("certificatesResolvers.letsencrypt.acme.dnsChallenge", {}, "dnsChallenge.provider: required"),
    ("certificatesResolvers.letsencrypt.acme.storage", None, "acme.storage: required"),
    ("core", {"defaultRuleSyntax": "v2"}, "rules are validated as v3 syntax"),
    ("log.level", "verbose", "log.level: 'verbose' is not one of"),
    ("accessLog.format", "xml", "accessLog.format: 'xml'"),
    ("pilot", {"token": "x"}, "pilot: unknown top-level key"),
    ("providers.docker.swarmMode", True, "providers.docker.swarmMode: unknown key"),
    ("api.dashbord", True, "api.dashbord: unknown key (did you mean 'dashboard'?)"),
])
def test_static_policy_and_structure(path, value, message):
    problems = check_static(static_with(path, value))
    assert any(message in p for p in problems), problems


def test_htpasswd_problems_name_users_never_secrets():
    good = ["admin:$2y$05$Ax8hyGP8D6ZuWkH4nA8Ize7YQ0Hk8Qz2i6q3lXh8v3aQ2qP6d5o1K",
            "ops:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "ci:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="]
    assert htpasswd_problems(good) == []
    problems = htpasswd_problems(["admin:CHANGE_ME-bcrypt-hash", "bob:s3cret", "s3cret-alone", "a b:$2y$x",
                                  "carol:$2y$05$short", None])
    assert problems == ["user 'admin' has the CHANGE_ME placeholder instead of a hash",
                        "user 'bob' has no bcrypt, apr1 or SHA1 hash (a plain password?)",
                        "entry 3 is not name:hash", "entry 4 is not name:hash",
                        "user 'carol' has no bcrypt, apr1 or SHA1 hash (a plain password?)", "entry 6 is not name:hash"]
    assert not any("s3cret" in p or "$2y$" in p for p in problems)


def test_problems_are_located_by_the_inventory_variable_an_entry_came_from():
    problems = ["routes.yml: http.routers.ab.rule: bad", "routes.yml: http.routers.a.b.service: x",
                "routes.yml: http.services: removing service s breaks router r: fix",
                "routes.yml: http.routers.kept-from-file.rule: bad", "other.yml: http.routers.ab.rule: bad"]
    origins = {"routers": "traefik_routes_routers", "services": "traefik_routes_services"}
    assert traefik.relocate(problems, "routes.yml", origins, {"routers": ["ab", "a.b"]}) == [
        "traefik_routes_routers.ab.rule: bad", "traefik_routes_routers.a.b.service: x",
        "traefik_routes_services: removing service s breaks router r: fix",
        "routes.yml: http.routers.kept-from-file.rule: bad", "other.yml: http.routers.ab.rule: bad"]


def test_secret_values_are_found_whatever_their_type():
    from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_keys import (
        HTTP_MIDDLEWARE_KINDS, secret_strings, url_credentials)
    assert secret_strings({"basicAuth": {"users": ["a:h1"], "realm": "r"}}, HTTP_MIDDLEWARE_KINDS) == ["a:h1"]
    assert secret_strings({"basicAuth": "a:h1"}, HTTP_MIDDLEWARE_KINDS) == ["a:h1"]
    assert secret_strings("basicAuth a:h1", HTTP_MIDDLEWARE_KINDS) == ["basicAuth a:h1"]
    assert secret_strings({"rateLimit": {"redis": {"password": {"v": 12345}}}}, HTTP_MIDDLEWARE_KINDS) == ["v", "12345"]
    assert secret_strings({"headers": {"frameDeny": True}}, HTTP_MIDDLEWARE_KINDS) == []
    assert url_credentials({"s": {"loadBalancer": {"servers": [{"url": "http://u:p4ss@h:80"}]}}}) == ["u:p4ss", "p4ss"]


def test_comments_the_module_did_not_write_are_found():
    text = traefik.HEADER + "http:\n  a: 'x # no comment'  # one\n  b: |\n    # text, not a comment\n# two\n"
    assert traefik.foreign_comments(text) == [3, 6]
    assert traefik.foreign_comments(traefik.render({"http": {"routers": {}}})) == []

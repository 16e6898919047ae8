# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Traefik v3 rule parser: what Traefik accepts, what it refuses, and the v3 spelling we suggest."""

from __future__ import annotations

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_rules import (
    RuleError, build_rule, check_regexp, parse_rule, rule_hosts)
from tests.traefik_simulator import route_request


@pytest.mark.parametrize("rule, matchers", [
    ("Host(`squaremcp.com`)", ["Host(`squaremcp.com`)"]),
    ("Host(`a.com`) || Host(`www.a.com`)", ["Host(`a.com`)", "Host(`www.a.com`)"]),
    ("Host(`a.com`) && (PathPrefix(`/api`) || !Path(`/x`))", ["Host(`a.com`)", "PathPrefix(`/api`)", "!Path(`/x`)"]),
    ("!(Host(`a`) || Host(`b`))", ["!Host(`a`)", "!Host(`b`)"]),
    ('Host("a.com") && Path("/p\\x41")', ["Host(`a.com`)", "Path(`/pA`)"]),
    ("Header(`X-Api`, `1`) && HeaderRegexp(`X-V`, `^v\\d+$`)", ["Header(`X-Api`, `1`)", "HeaderRegexp(`X-V`, `^v\\d+$`)"]),
    ("Query(`mobile`) || Query(`page`, `1`) || QueryRegexp(`q`, `^a+$`)",
     ["Query(`mobile`)", "Query(`page`, `1`)", "QueryRegexp(`q`, `^a+$`)"]),
    ("ClientIP(`10.0.0.0/8`) || ClientIP(`::1`)", ["ClientIP(`10.0.0.0/8`)", "ClientIP(`::1`)"]),
    ("HostRegexp(`^[a-z]{3}\\.example\\.com$`)", ["HostRegexp(`^[a-z]{3}\\.example\\.com$`)"]),
    ("Method(`POST`) && PathRegexp(`^/api/(?P<tool>[a-z]+)$`)", ["Method(`POST`)", "PathRegexp(`^/api/(?P<tool>[a-z]+)$`)"]),
    ("host(`a.com`) && PATHPREFIX(`/x`) && Pathprefix(`/y`)", ["Host(`a.com`)", "PathPrefix(`/x`)", "PathPrefix(`/y`)"]),
    # Traefik upper-cases the method (pkg/muxer/http/matcher.go: method()), so any case is accepted.
    ("Method(`get`) || Method(`Post`)", ["Method(`get`)", "Method(`Post`)"]),
])
def test_valid_rules(rule, matchers):
    assert [repr(m) for m in parse_rule(rule)] == matchers


def test_and_binds_tighter_than_or():
    # A || B && C: only B and C are under the &&, so negating the whole thing flips all three.
    assert [m.negated for m in parse_rule("!(Host(`a`) || Host(`b`) && Path(`/c`))")] == [True, True, True]
    assert [m.negated for m in parse_rule("!Host(`a`) || Host(`b`) && Path(`/c`)")] == [True, False, False]


@pytest.mark.parametrize("rule, message", [
    # v2 forms, with the v3 spelling suggested
    ("Host(`a.com`,`b.com`)", "write (Host(`a.com`) || Host(`b.com`))"),
    ("HostRegexp(`{sub:[a-z]+}.example.com`)", "write HostRegexp(`^[a-z]+\\.example\\.com$`)"),
    ("HostRegexp(`{sub}.example.com`)", "write HostRegexp(`^[^.]+\\.example\\.com$`)"),
    ("Host(`{sub:[a-z]+}.example.com`)", "write HostRegexp(`^[a-z]+\\.example\\.com$`)"),
    ("Headers(`X-A`, `1`)", "Headers is Traefik v2 syntax: use Header"),
    ("HeadersRegexp(`X-A`, `^1$`)", "use HeaderRegexp"),
    ("HostHeader(`a.com`)", "use Host in v3"),
    ("Query(`a=b`)", "write Query(`a`, `b`)"),
    ("PathPrefix(`/articles/{id:[0-9]+}`)", "write PathRegexp(`^/articles/[0-9]+`)"),
    ("Path(`/users/{id}`)", "write PathRegexp(`^/users/[^/]+$`)"),
    ("Method(`GET`, `POST`)", "write (Method(`GET`) || Method(`POST`))"),
    ("ClientIP(`10.0.0.0/8`, `192.168.0.0/16`)", "write (ClientIP(`10.0.0.0/8`) || ClientIP(`192.168.0.0/16`))"),
    ("Header(`A`, `1`, `B`, `2`)", "write Header(`A`, `1`) && Header(`B`, `2`)"),
    # syntax
    ("Host('a.com')", "single quotes"),
    ("Host(a.com)", "quote values with backticks"),
    ("Host(example)", "values must be quoted with backticks, e.g. Host(`example`)"),
    ("Host(`a.com`", "never closed"),
    ("(Host(`a.com`)", "never closed"),
    ("Host(`a.com`))", "unexpected ')'"),
    ("Host(`a.com`) && ", "at the end of the rule"),
    ("Host(`a.com`) Path(`/x`)", "join matchers with && or ||"),
    ("Host(`a.com`) & Path(`/x`)", "combine matchers with && or ||"),
    ("Host(`a.com)", "unterminated backtick"),
    ('HostRegexp("^a\\.b$")', "unknown escape sequence"),
    ("", "the rule is empty"),
    # matchers and values
    ("Hots(`a.com`)", "did you mean 'Host'"),
    ("Host(`a.com:8443`)", "without a port; write Host(`a.com`)"),
    ("Host(`bücher.de`)", "punycode"),
    ("Host(`a b`)", "is not a host name"),
    ("Host(``)", "value 1 is empty, which Traefik v3 refuses (empty args for matcher)"),
    ("PathPrefix(`api`)", "must start with '/'; write PathPrefix(`/api`)"),
    ("Method(`GET POST`)", "is not an HTTP method"),
    # v3's Host compares the literal name: `*` never matches anything
    ("Host(`*.example.com`)", "write HostRegexp(`^[^.]+\\.example\\.com$`)"),
    ("Host(`api.*.example.com`)", "write HostRegexp(`^api\\.[^.]+\\.example\\.com$`)"),
    ("Host(`*`)", "drop the Host matcher to match every host"),
    ("ClientIP(`10.0.0.300`)", "not an IP address or CIDR"),
    ("PathRegexp(`^/(?=admin)`)", "no lookahead"),
    ("PathRegexp(`^(a)\\1$`)", "no backreferences"),
    ("HostRegexp(`^[a-z+$`)", "not a valid regular expression"),
    ("Host(`{{ site }}`)", "Go-template syntax"),
    ("Header(`X-A`)", "takes 2 value(s), got 1"),
])
def test_invalid_rules_name_the_fix(rule, message):
    with pytest.raises(RuleError) as err:
        parse_rule(rule)
    assert message in str(err.value)


def test_tcp_rules_use_tcp_matchers():
    assert [repr(m) for m in parse_rule("HostSNI(`db.example.com`) || HostSNI(`*`)", tcp=True)] == [
        "HostSNI(`db.example.com`)", "HostSNI(`*`)"]
    with pytest.raises(RuleError, match="v3 TCP matchers are ALPN, ClientIP, HostSNI, HostSNIRegexp"):
        parse_rule("Host(`a.com`)", tcp=True)
    with pytest.raises(RuleError, match="reserved"):
        parse_rule("ALPN(`acme-tls/1`)", tcp=True)
    with pytest.raises(RuleError, match="unknown matcher HostSNI"):
        parse_rule("HostSNI(`a.com`)")


@pytest.mark.parametrize("pattern, ok", [
    ("^[a-z]+\\.example\\.com$", True), ("\\pL+", True), ("[[:alpha:]]+\\z", True), ("(?<name>x)", True),
    ("a(?!b)", False), ("(?<=a)b", False), ("(?P=x)", False), ("(?>a)", False), ("a++", False), ("a\\Z", False),
])
def test_go_regexp_approximation(pattern, ok):
    assert (check_regexp(pattern) is None) is ok


def test_rule_hosts_lists_positive_hosts_once():
    rule = "(Host(`a.com`) || Host(`b.com`) || Host(`a.com`)) && !Host(`c.com`) && PathPrefix(`/x`)"
    assert rule_hosts(rule) == ["a.com", "b.com"]
    assert rule_hosts("HostSNI(`db.example.com`)", tcp=True) == ["db.example.com"]


@pytest.mark.parametrize("kwargs, rule", [
    ({"hosts": "squaremcp.com"}, "Host(`squaremcp.com`)"),
    ({"hosts": ["a.com", "www.a.com"]}, "Host(`a.com`) || Host(`www.a.com`)"),
    ({"hosts": ["a.com", "www.a.com"], "paths": ["/api/pilot-request"]},
     "(Host(`a.com`) || Host(`www.a.com`)) && Path(`/api/pilot-request`)"),
    ({"hosts": "a.com", "path_prefixes": ["/oauth", "/mcp"], "methods": ["post"]},
     "Host(`a.com`) && (PathPrefix(`/oauth`) || PathPrefix(`/mcp`)) && Method(`POST`)"),
    ({"path_prefixes": "/auth/tiktok", "headers": {"X-B": "2", "X-A": "1"}},
     "PathPrefix(`/auth/tiktok`) && Header(`X-A`, `1`) && Header(`X-B`, `2`)"),
    # a wildcard host becomes HostRegexp: * is exactly one label, as in a wildcard certificate
    ({"hosts": ["*.a.com", "a.com"], "paths": ["/x"]},
     "(HostRegexp(`^[^.]+\\.a\\.com$`) || Host(`a.com`)) && Path(`/x`)"),
])
def test_build_rule(kwargs, rule):
    assert build_rule(**kwargs) == rule
    parse_rule(rule)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give at least one host"),
    ({"hosts": "a.com:443"}, "without a port"),
    ({"hosts": "a.com", "path_prefixes": ["api"]}, "must start with '/'"),
    ({"hosts": "a`b.com"}, "backtick"),
    ({"hosts": {"a": 1}}, "hosts must be a string or a list of strings"),
])
def test_build_rule_refuses_what_traefik_refuses(kwargs, message):
    with pytest.raises(RuleError, match=message.replace("(", "\\(")):
        build_rule(**kwargs)


@pytest.mark.parametrize("rule, request_kwargs, matches", [
    ("Header(`X-Api`, `1`)", {"headers": {"X-Api": "1"}}, True),
    ("Header(`X-Api`, `1`)", {"headers": {"X-Api": "2"}}, False),
    ("HeaderRegexp(`X-V`, `^v[0-9]+$`)", {"headers": {"X-V": "v12"}}, True),
    ("Query(`mobile`)", {"query": {"mobile": ""}}, True),
    ("Query(`page`, `1`)", {"query": {"page": "2"}}, False),
    ("QueryRegexp(`q`, `^a+$`)", {"query": {"q": "aaa"}}, True),
    ("ClientIP(`10.0.0.0/8`)", {"client_ip": "10.1.2.3"}, True),
    ("ClientIP(`10.0.0.0/8`)", {"client_ip": "192.168.1.1"}, False),
    ("HostRegexp(`^[a-z]+\\.a\\.com$`)", {}, True),
    ("Host(`www.a.com`)", {}, True),
    ("Host(`WWW.A.com.`)", {}, True),
    ("Host(`a.com`)", {}, False),
    ("HostRegexp(`^[^.]+\\.a\\.com$`)", {}, True),
    ("Method(`get`)", {}, True),
    ("Method(`post`)", {}, False),
    ("!PathRegexp(`^/x`) && Method(`GET`)", {}, True),
])
def test_rules_evaluate_like_traefik_matches(rule, request_kwargs, matches):
    picked = route_request({"r": {"rule": rule}}, "www.a.com", "/path", **request_kwargs)
    assert (picked == "r") is matches


@pytest.mark.parametrize("host, matches", [("www.a.com", True), ("api.a.com", True), ("a.com", False),
                                           ("x.www.a.com", False), ("www.a.com.evil.org", False), ("wwwxa.com", False)])
def test_wildcard_host_from_the_filter_matches_one_label(host, matches):
    routers = {"wild": {"rule": build_rule(hosts="*.a.com")}}
    assert (route_request(routers, host, "/") == "wild") is matches

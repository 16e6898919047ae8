# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge / prune / render of the traefik_routes file, and the filters built on the parser."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.filter.traefik import FilterModule
from ansible_collections.squaremcp.infra.plugins.module_utils import _traefik_config as traefik

LB = {"loadBalancer": {"servers": [{"url": "http://s:80"}]}}
CURRENT = {
    "http": {
        "routers": {"a": {"rule": "Host(`a`)", "service": "s"}, "b": {"rule": "Host(`b`)", "service": "s"}},
        "services": {"s": LB},
        "serversTransports": {"t": {"insecureSkipVerify": True}},
    },
    "tls": {"options": {"modern": {"minVersion": "VersionTLS13"}}},
}


def test_present_adds_and_replaces_whole_entries():
    doc, changes = traefik.merge(CURRENT, {"routers": {"b": {"rule": "Host(`b2`)", "service": "s"},
                                                       "c": {"rule": "Host(`c`)", "service": "s", "priority": None}}})
    assert doc["http"]["routers"] == {"a": {"rule": "Host(`a`)", "service": "s"},
                                      "b": {"rule": "Host(`b2`)", "service": "s"},
                                      "c": {"rule": "Host(`c`)", "service": "s"}}
    assert changes["routers"] == {"added": ["c"], "removed": [], "updated": ["b"]}
    assert changes["services"] == {"added": [], "removed": [], "updated": []}
    assert doc["tls"] == CURRENT["tls"] and doc["http"]["serversTransports"] == CURRENT["http"]["serversTransports"]
    assert CURRENT["http"]["routers"]["b"]["rule"] == "Host(`b`)", "the input document is not modified"


def test_prune_keeps_exactly_what_is_listed_in_every_kind():
    doc, changes = traefik.merge(CURRENT, {"routers": {"a": {"rule": "Host(`a`)", "service": "s"}}}, prune=True)
    assert doc["http"]["routers"] == {"a": {"rule": "Host(`a`)", "service": "s"}}
    assert "services" not in doc["http"], "services not listed are pruned too"
    assert changes["routers"]["removed"] == ["b"] and changes["services"]["removed"] == ["s"]
    assert changes["routers"]["updated"] == [] and changes["routers"]["added"] == []
    assert doc["tls"] == CURRENT["tls"], "sections the module does not manage are kept"


def test_absent_removes_named_entries_only():
    doc, changes = traefik.merge(CURRENT, {"routers": ["b", "missing"]}, state="absent")
    assert sorted(doc["http"]["routers"]) == ["a"]
    assert changes["routers"] == {"added": [], "removed": ["b"], "updated": []}
    doc, _changes = traefik.merge({}, {"routers": {"x": {}}}, state="absent")
    assert doc == {}


def test_integer_strings_become_integers_where_traefik_wants_integers():
    doc, _changes = traefik.merge({}, {"routers": {"r": {"rule": "Host(`a`)", "service": "s", "priority": "100"}},
                                       "services": {"s": {"loadBalancer": {"servers": [{"url": "http://s",
                                                                                        "weight": " 3 "}]}}}})
    assert doc["http"]["routers"]["r"]["priority"] == 100
    assert doc["http"]["services"]["s"]["loadBalancer"]["servers"][0]["weight"] == 3


def test_render_is_stable_and_sorted():
    one = {"http": {"services": {"z": LB, "a": LB}, "routers": {"r": {"service": "a", "rule": "Host(`x`)"}}}}
    two = {"http": {"routers": {"r": {"rule": "Host(`x`)", "service": "a"}}, "services": {"a": LB, "z": LB}}}
    text = traefik.render(one)
    assert text == traefik.render(two)
    assert text.startswith(traefik.HEADER)
    assert text.index("routers:") < text.index("services:") and text.index("    a:") < text.index("    z:")
    assert traefik.load_text(text, "routes.yml") == two
    assert traefik.render({}) == traefik.HEADER + "{}\n"


def test_render_round_trips_rules_with_yaml_indicators():
    rule = "!Host(`a`) && (Path(`/#x`) || PathRegexp(`^/[a-z]+: *$`)) && Header(`X-A`, `'\"`)"
    doc = {"http": {"routers": {"r": {"rule": rule, "service": "s"}}}}
    assert traefik.load_text(traefik.render(doc), "r.yml") == doc


def test_redact_hides_basic_auth_hashes_only():
    doc = {"http": {"middlewares": {"auth": {"basicAuth": {"users": ["admin:$2y$05$secret"], "realm": "edge"}},
                                    "h": {"headers": {"stsSeconds": 1}}}}}
    redacted, found = traefik.redact(doc)
    assert found
    assert redacted["http"]["middlewares"]["auth"]["basicAuth"] == {"users": ["admin:<redacted>"], "realm": "edge"}
    assert doc["http"]["middlewares"]["auth"]["basicAuth"]["users"] == ["admin:$2y$05$secret"]
    assert traefik.redact({"http": {"middlewares": {"h": {"headers": {}}}}})[1] is False


FILTERS = FilterModule().filters()


def test_filters_build_and_read_rules():
    rule = FILTERS["traefik_rule"](["squaremcp.com", "www.squaremcp.com"], paths=["/api/pilot-request"])
    assert rule == "(Host(`squaremcp.com`) || Host(`www.squaremcp.com`)) && Path(`/api/pilot-request`)"
    assert FILTERS["traefik_rule_hosts"](rule) == ["squaremcp.com", "www.squaremcp.com"]


@pytest.mark.parametrize("name, args, message", [
    ("traefik_rule", (["a.com:443"],), "squaremcp.infra.traefik_rule: .*without a port"),
    ("traefik_rule_hosts", ("Host(`a`,`b`)",), "traefik_rule_hosts: .*Traefik v2 syntax"),
])
def test_filters_fail_with_the_parser_message(name, args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args)

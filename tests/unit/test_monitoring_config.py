# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_monitoring*.py: what the monitoring role builds from an inventory, and every
problem it refuses (the messages name the variable and never a secret value)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import _monitoring as mon
from ansible_collections.squaremcp.infra.plugins.module_utils._monitoring_rules import parse_duration
from ansible_collections.squaremcp.infra.plugins.module_utils._monitoring_targets import is_host_port, is_http_url

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "roles" / "monitoring" / "files" / "rules").glob("*.rules.yml"))
ROUTERS = {
    "site": {"rule": "Host(`shop.example.test`) || Host(`www.shop.example.test`)", "entryPoints": ["websecure"],
             "service": "site", "tls": {"certResolver": "letsencrypt"}},
    "pilot": {"rule": "(Host(`shop.example.test`)) && Path(`/api/pilot-request`)", "entryPoints": ["websecure"],
              "service": "hermes", "tls": {}},
    "hermes": {"rule": "Host(`mcp.example.test`)", "entryPoints": ["websecure"], "service": "hermes", "tls": {}},
}
SECRET_URL = "https://hooks.example.test/T0KEN-s3cr3t"


def options(**changes):
    """The options the role passes on a single host (monitoring = edge = Docker host), as in production."""
    base = {
        "monitoring_host": "mon-1", "edge_hosts": ["mon-1"], "docker_hosts": ["mon-1"],
        "host_facts": {"names": ["mon-1"], "ansible_host": ["192.0.2.10"], "monitoring_address": [""],
                       "traefik_internal_port": [8082], "traefik_internal_bind_address": ["127.0.0.1"],
                       "traefik_routes_routers": [copy.deepcopy(ROUTERS)]},
        "listen_address": "127.0.0.1",
        "ports": {"prometheus": 9090, "alertmanager": 9093, "blackbox": 9115, "node_exporter": 9100},
        "scrape_interval": "30s", "scrape_timeout": "10s", "evaluation_interval": "30s", "probe_timeout": "10s",
        "external_labels": {}, "scrape_docker_engine": True, "docker_metrics_port": 9323, "scrape_traefik": True,
        "scrape_hermes_metrics": False, "hermes_metrics_targets": [], "hermes_metrics_path": "/metrics",
        "extra_scrape_configs": [], "probe_exclude_routers": [], "probe_exclude_hosts": [], "probe_extra_urls": [],
        "hermes_health_router": "hermes", "hermes_health_path": "/health", "hermes_health_body_regexp": '"status"\\s*:\\s*"ok"',
        "blackbox_modules_extra": {},
        "rule_paths": [str(p) for p in RULES], "rule_texts": [p.read_text() for p in RULES], "rule_builtin": len(RULES),
        "alert_for": {},
        "alertmanager": {
            "global": {"smtp_smarthost": "smtp.example.test:587", "smtp_from": "alerts@example.test",
                       "smtp_auth_password": "hunter2-smtp"},
            "receivers": [{"name": "oncall", "email_configs": [{"to": "ops@example.test"}],
                           "webhook_configs": [{"url": SECRET_URL}]}],
            "receiver": "oncall", "routes": [], "group_by": ["alertname", "severity"], "group_wait": "30s",
            "group_interval": "5m", "repeat_interval": "4h", "inhibit_equal": ["instance", "job"], "inhibit_rules_extra": [],
            "heartbeat_url": "https://hc.example.test/ping/uuid-secret", "heartbeat_interval": "1m"},
    }
    for key, value in changes.items():
        target = base
        *path, last = key.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return base


def built(**changes):
    return mon.build(options(**changes))


def problems(**changes):
    found = built(**changes).problems
    assert found, "expected a problem"
    text = "\n".join(found)
    for secret in ("T0KEN-s3cr3t", "hunter2-smtp", "uuid-secret"):
        assert secret not in text
    return text


def load(result, path):
    return yaml.safe_load(result.files[path])


def jobs(result):
    return {job["job_name"]: job for job in load(result, mon.PROMETHEUS)["scrape_configs"]}


def test_single_host_scrapes_everything_on_loopback_with_inventory_names_as_instances():
    result = built()
    assert result.problems == []
    found = jobs(result)
    assert list(found) == ["prometheus", "alertmanager", "blackbox_exporter", "node", "docker_engine", "traefik", "blackbox"]
    assert found["node"]["static_configs"] == [{"targets": ["127.0.0.1:9100"], "labels": {"instance": "mon-1:9100"}}]
    assert found["docker_engine"]["static_configs"][0]["targets"] == ["127.0.0.1:9323"]
    assert found["traefik"]["static_configs"][0]["targets"] == ["127.0.0.1:8082"]
    config = load(result, mon.PROMETHEUS)
    assert config["rule_files"] == ["rules/*.rules.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert "hermes" not in found  # monitoring_scrape_hermes_metrics is off by default


def test_probes_are_generated_from_every_host_of_every_router():
    result = built()
    http = load(result, "prometheus/file_sd/blackbox_http.yml")
    tls = load(result, "prometheus/file_sd/blackbox_tls.yml")
    hermes = load(result, "prometheus/file_sd/blackbox_hermes.yml")
    assert http == [{"targets": ["https://mcp.example.test/", "https://shop.example.test/", "https://www.shop.example.test/"],
                     "labels": {"module": "http_2xx"}}]
    assert tls[0]["targets"] == ["mcp.example.test:443", "shop.example.test:443", "www.shop.example.test:443"]
    assert tls[0]["labels"] == {"module": "tls"}
    assert hermes == [{"targets": ["https://mcp.example.test/health"], "labels": {"module": "hermes_health"}}]
    blackbox = load(result, mon.BLACKBOX)["modules"]
    assert blackbox["http_2xx"]["http"]["preferred_ip_protocol"] == "ip4"
    assert blackbox["http_2xx"]["http"]["ip_protocol_fallback"] is True
    assert blackbox["tls"]["tcp"]["tls"] is True
    assert blackbox["hermes_health"]["http"]["fail_if_body_not_matches_regexp"] == ['"status"\\s*:\\s*"ok"']


def test_a_route_added_to_the_inventory_is_probed_with_no_other_change():
    routers = dict(ROUTERS, docs={"rule": "Host(`docs.example.test`)", "entryPoints": ["websecure"], "service": "s"})
    result = built(host_facts__traefik_routes_routers=[routers])
    assert "https://docs.example.test/" in load(result, "prometheus/file_sd/blackbox_http.yml")[0]["targets"]
    assert "docs.example.test:443" in load(result, "prometheus/file_sd/blackbox_tls.yml")[0]["targets"]


def test_http_only_router_gets_no_tls_probe_and_exclusions_apply():
    routers = dict(ROUTERS, plain={"rule": "Host(`plain.example.test`)", "entryPoints": ["web"], "service": "s"})
    result = built(host_facts__traefik_routes_routers=[routers], probe_exclude_hosts=["www.shop.example.test"])
    http = load(result, "prometheus/file_sd/blackbox_http.yml")[0]["targets"]
    tls = load(result, "prometheus/file_sd/blackbox_tls.yml")[0]["targets"]
    assert "http://plain.example.test/" in http and "plain.example.test:443" not in tls
    assert "https://www.shop.example.test/" not in http and "www.shop.example.test:443" not in tls


def test_monitoring_on_its_own_host_reaches_the_others_at_their_addresses():
    facts = {"names": ["mon-1", "edge-1", "edge-2"], "ansible_host": ["192.0.2.10", "192.0.2.11", "192.0.2.12"],
             "monitoring_address": ["", "10.0.0.11", ""], "traefik_internal_port": [8082, 8082, 9000],
             "traefik_internal_bind_address": ["", "10.0.0.11", "0.0.0.0"],
             "traefik_routes_routers": [{}, copy.deepcopy(ROUTERS), copy.deepcopy(ROUTERS)]}
    result = built(edge_hosts=["edge-1", "edge-2"], docker_hosts=["edge-1", "edge-2"], host_facts=facts)
    assert result.problems == []
    found = jobs(result)
    assert [c["targets"][0] for c in found["node"]["static_configs"]] == ["127.0.0.1:9100", "10.0.0.11:9100", "192.0.2.12:9100"]
    assert [c["labels"]["instance"] for c in found["node"]["static_configs"]] == ["mon-1:9100", "edge-1:9100", "edge-2:9100"]
    assert [c["targets"][0] for c in found["docker_engine"]["static_configs"]] == ["10.0.0.11:9323", "192.0.2.12:9323"]
    assert [c["targets"][0] for c in found["traefik"]["static_configs"]] == ["10.0.0.11:8082", "192.0.2.12:9000"]
    # both edges serve the same routes: each host name is probed once
    assert len(load(result, "prometheus/file_sd/blackbox_http.yml")[0]["targets"]) == 3


def test_each_edge_is_probed_directly_and_through_its_floating_ip():
    facts = {"names": ["mon-1", "edge-1", "edge-2"], "ansible_host": ["192.0.2.10", "192.0.2.11", "2001:db8::12"],
             "monitoring_address": ["", "10.0.0.11", ""], "traefik_internal_bind_address": ["", "10.0.0.11", "0.0.0.0"],
             "traefik_routes_routers": [{}, copy.deepcopy(ROUTERS), copy.deepcopy(ROUTERS)],
             "traefik_https_port": [443, 8443, 8443], "edge_failover_virtual_ip": ["", "10.0.0.100", "10.0.0.100"]}
    result = built(edge_hosts=["edge-1", "edge-2"], docker_hosts=["edge-1", "edge-2"], host_facts=facts)
    assert result.problems == []
    assert load(result, mon.EDGE_FILE_SD) == [
        {"targets": ["10.0.0.11:8443"], "labels": {"module": "edge_tls", "edge": "edge-1", "path": "direct"}},
        {"targets": ["[2001:db8::12]:8443"], "labels": {"module": "edge_tls", "edge": "edge-2", "path": "direct"}},
        {"targets": ["10.0.0.100:8443"], "labels": {"module": "edge_tls", "edge": "10.0.0.100", "path": "floating_ip"}},
    ]
    assert "file_sd/blackbox_edges.yml" in jobs(result)["blackbox"]["file_sd_configs"][0]["files"]
    assert load(result, mon.BLACKBOX)["modules"]["edge_tls"]["tcp"]["tls_config"] == {"insecure_skip_verify": True}
    # switched off: the file stays, empty (Prometheus reads it)
    assert load(built(edge_hosts=["edge-1", "edge-2"], host_facts=facts, probe_edges=False), mon.EDGE_FILE_SD) == []


def test_the_monitoring_hosts_own_edge_is_not_probed_as_an_edge():
    """One host (production today): its routes are probed; no edge probe of itself, no floating IP."""
    assert load(built(), mon.EDGE_FILE_SD) == []


def test_package_and_compose_get_the_same_text():
    """The filter has no notion of the install method: only the alertmanager.yml group differs (0640 root:<group>)."""
    package = mon.build(options()).entries("prometheus")
    compose = mon.build(options()).entries("65534")

    def text(entry):
        return entry.get("content", entry.get("secret_content"))

    assert [(e["path"], text(e)) for e in package] == [(e["path"], text(e)) for e in compose]
    secret = [e for e in package if "secret_content" in e]
    assert [(e["path"], e["mode"], e["group"], e["check"]) for e in secret] == [(mon.ALERTMANAGER, "0640", "prometheus", "alertmanager")]


def test_alertmanager_routes_watchdog_to_the_heartbeat_and_critical_inhibits_warning():
    config = load(built(), mon.ALERTMANAGER)
    route = config["route"]
    assert route["receiver"] == "oncall" and route["group_by"] == ["alertname", "severity"]
    assert route["routes"][0] == {"matchers": ['alertname="Watchdog"'], "receiver": "heartbeat", "group_wait": "0s",
                                  "group_interval": "1m", "repeat_interval": "1m"}
    assert config["receivers"][-1] == {"name": "heartbeat", "webhook_configs": [
        {"url": "https://hc.example.test/ping/uuid-secret", "send_resolved": False}]}
    assert config["inhibit_rules"][0] == {"source_matchers": ['severity="critical"'],
                                          "target_matchers": ['severity="warning"', 'alertname!="Watchdog"'],
                                          "equal": ["instance", "job"]}
    assert config["global"]["smtp_smarthost"] == "smtp.example.test:587"


def test_rule_files_are_deployed_verbatim_unless_a_for_is_overridden():
    result = built()
    assert result.rule_files == [p.name for p in RULES]
    for path in RULES:
        assert result.files["prometheus/rules/" + path.name] == path.read_text()
    changed = built(alert_for={"TargetDown": "0s"})
    text = changed.files["prometheus/rules/targets.rules.yml"]
    rules = {r["alert"]: r for g in yaml.safe_load(text)["groups"] for r in g["rules"]}
    assert rules["TargetDown"]["for"] == "0s" and "for" not in rules["Watchdog"]
    assert changed.files["prometheus/rules/probes.rules.yml"] == (ROOT / "roles/monitoring/files/rules/probes.rules.yml").read_text()


def test_every_public_alert_name_is_defined_once_with_severity_and_summary():
    result = built()
    names = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                names.append(rule["alert"])
                assert rule["labels"]["severity"] in ("warning", "critical")
                assert rule["annotations"]["summary"].strip()
    assert result.problems == [] and len(names) == len(set(names))
    public = {"TargetDown", "EndpointProbeFailed", "CertificateExpiringSoon", "CertificateExpiringCritical",
              "CertificateRotationStale", "TraefikConfigReloadFailed", "DockerContainersStopped", "HostDiskSpaceLow",
              "HostMemoryPressure", "IngressClassDrift", "ConfigurationDrift", "Watchdog"}
    assert public <= set(names)
    assert "SquaremcpCertificateSyncNoSuccess" not in names  # replaced by CertificateRotationStale


BAD = {
    "router-without-host": (
        {"host_facts__traefik_routes_routers": [dict(ROUTERS, api={"rule": "PathPrefix(`/api`)", "service": "s"})]},
        "traefik_routes_routers.api (edge host mon-1) has no Host(`...`) matcher"),
    "router-rule-invalid": (
        {"host_facts__traefik_routes_routers": [dict(ROUTERS, bad={"rule": "Host(shop.example.test)", "service": "s"})]},
        "traefik_routes_routers.bad (edge host mon-1)"),
    "hermes-router-missing": ({"hermes_health_router": "hermes-mcp"}, "monitoring_hermes_health_router: no edge host has a router named hermes-mcp"),
    "webhook-not-http": ({"alertmanager__receivers": [{"name": "oncall", "webhook_configs": [{"url": "ftp://x/T0KEN-s3cr3t"}]}]},
                         "monitoring_alertmanager_receivers[0] (oncall).webhook_configs[0].url is not an absolute http(s) URL"),
    "webhook-no-host": ({"alertmanager__receivers": [{"name": "oncall", "webhook_configs": [{"url": "https:///T0KEN-s3cr3t"}]}]},
                        "webhook_configs[0].url is not an absolute http(s) URL"),
    "heartbeat-not-url": ({"alertmanager__heartbeat_url": "uuid-secret"}, "monitoring_alertmanager_heartbeat_url is not an absolute"),
    "route-unknown-receiver": ({"alertmanager__routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}]},
                               "monitoring_alertmanager_routes[0].receiver 'pager' is not a receiver"),
    "root-receiver-unknown": ({"alertmanager__receiver": "nobody"}, "monitoring_alertmanager_receiver 'nobody' is not a receiver"),
    "email-without-smtp": ({"alertmanager__global": {}}, "has no SMTP server: set monitoring_alertmanager_global.smtp_smarthost"),
    "email-bad-address": ({"alertmanager__receivers": [{"name": "oncall", "email_configs": [{"to": "ops"}]}]},
                          "email_configs[0].to must be one or more addresses"),
    "receiver-reserved-name": ({"alertmanager__receivers": [{"name": "heartbeat"}], "alertmanager__receiver": "heartbeat"},
                               "the name heartbeat is the role's"),
    "placeholder": ({"alertmanager__global": {"smtp_smarthost": "smtp:25", "smtp_auth_password": "CHANGE_ME-smtp"}},
                    "monitoring_alertmanager_global.smtp_auth_password is still the CHANGE_ME placeholder"),
    "target-without-port": ({"extra_scrape_configs": [{"job_name": "fetcherpay-api", "static_configs": [{"targets": ["fetcherpay-api"]}]}]},
                            "monitoring_extra_scrape_configs[0] (fetcherpay-api).static_configs[0]: target 'fetcherpay-api' has no port"),
    "job-name-taken": ({"extra_scrape_configs": [{"job_name": "node", "static_configs": [{"targets": ["a:1"]}]}]},
                       "job_name node is taken"),
    "hermes-metrics-without-target": ({"scrape_hermes_metrics": True}, "monitoring_scrape_hermes_metrics is true but"),
    "hermes-metrics-target-without-port": ({"scrape_hermes_metrics": True, "hermes_metrics_targets": ["hermes-mcp"]},
                                           "monitoring_hermes_metrics_targets.static_configs[0]: target 'hermes-mcp' has no port"),
    "duration": ({"scrape_interval": "30 seconds"}, "monitoring_scrape_interval: '30 seconds' is not a Prometheus duration"),
    "timeout-over-interval": ({"scrape_timeout": "1m"}, "monitoring_scrape_timeout (1m) is longer than monitoring_scrape_interval (30s)"),
    "probe-over-scrape": ({"probe_timeout": "15s"}, "monitoring_probe_timeout (15s) is longer than monitoring_scrape_timeout (10s)"),
    "unknown-prober": ({"blackbox_modules_extra": {"ping": {"prober": "icmpv6"}}}, "monitoring_blackbox_modules_extra.ping: prober must be one of"),
    "for-unknown-alert": ({"alert_for": {"SiteDown": "1m"}}, "monitoring_alert_for: no alert named SiteDown"),
    "for-not-duration": ({"alert_for": {"TargetDown": "soon"}}, "monitoring_alert_for.TargetDown: 'soon' is not a Prometheus duration"),
    "traefik-unpublished": ({"host_facts__traefik_internal_bind_address": [""]},
                            "edge host mon-1 does not publish Traefik's internal entry point"),
    "extra-probe-url": ({"probe_extra_urls": ["status.example.test"]}, "monitoring_probe_extra_urls[0] is not an absolute http(s) URL"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inventory_values_are_refused_with_the_variable_named(case):
    changes, fragment = BAD[case]
    text = problems(**changes)
    assert fragment in text, text
    assert built(**changes).files == {}, "nothing may be built from a refused inventory"


def test_remote_edge_publishing_on_loopback_only_is_refused():
    facts = {"names": ["mon-1", "edge-1"], "ansible_host": ["", "192.0.2.11"], "monitoring_address": ["", ""],
             "traefik_internal_port": [8082, 8082], "traefik_internal_bind_address": ["", "127.0.0.1"],
             "traefik_routes_routers": [{}, copy.deepcopy(ROUTERS)]}
    text = problems(edge_hosts=["edge-1"], docker_hosts=[], host_facts=facts)
    assert "edge host edge-1 publishes Traefik's internal entry point on 127.0.0.1 only" in text


def _rule_source(text, name="extra.rules.yml"):
    return {"rule_paths": [str(p) for p in RULES] + ["/inventory/" + name],
            "rule_texts": [p.read_text() for p in RULES] + [text]}


@pytest.mark.parametrize("text, fragment", [
    ("groups: [\n", "monitoring_rule_files_extra[0] (/inventory/extra.rules.yml): not valid YAML at line 2"),
    ("groups:\n  - name: x\n    rules:\n      - alert: TargetDown\n        expr: up == 0\n        labels: {severity: critical}\n"
     "        annotations: {summary: again}\n",
     "alert TargetDown is defined twice: in roles/monitoring/files/rules/targets.rules.yml and in monitoring_rule_files_extra[0]"),
    ("groups:\n  - name: x\n    rules:\n      - alert: SiteDown\n        expr: up == 0\n        annotations: {summary: s}\n",
     "alert SiteDown: labels.severity must be one of warning or critical (got None)"),
    ("groups:\n  - name: x\n    rules:\n      - alert: SiteDown\n        expr: up == 0\n        labels: {severity: page}\n",
     "alert SiteDown: annotations.summary is missing"),
    ("rules: []\n", "a rule file is a mapping with a non-empty `groups:` list"),
])
def test_bad_extra_rule_files_are_refused(text, fragment):
    assert fragment in problems(**_rule_source(text))


def test_extra_rule_file_name_must_end_in_rules_yml():
    source = _rule_source("groups: []\n", name="extra.yml")
    assert "the file name must end in .rules.yml" in problems(**source)


def test_an_extra_rule_file_is_deployed():
    text = ("groups:\n  - name: x\n    rules:\n      - alert: SiteDown\n        expr: up == 0\n"
            "        labels: {severity: critical}\n        annotations: {summary: s}\n")
    result = built(**_rule_source(text))
    assert result.files["prometheus/rules/extra.rules.yml"] == text


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("1h30m", 5400), ("500ms", 0.5), ("0s", 0), ("2d", 172800),
                                           ("", None), ("1.5h", None), ("m", None), (30, None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("target, ok", [("127.0.0.1:9100", True), ("[::1]:9100", True), ("fetcherpay-api:3000", True),
                                        ("fetcherpay-api", False), ("host:0", False), ("host:70000", False), ("http://a:1", False)])
def test_is_host_port(target, ok):
    assert is_host_port(target) is ok


@pytest.mark.parametrize("url, ok", [("https://a.example/x", True), ("http://127.0.0.1:9999/h", True), ("ftp://a/x", False),
                                     ("https:///x", False), ("a.example", False), (" https://a.example", False),
                                     ("https://a.example:port/", False)])
def test_is_http_url(url, ok):
    assert is_http_url(url) is ok

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring role's configuration entry point on localhost, against Debian's Prometheus,
Alertmanager and blackbox exporter running as processes (tests/integration/monitoring_lab.py):

* the generated files are put in place and the running services RELOAD them (same process, the new
  configuration served), a second run changes nothing, check mode shows a diff and writes nothing;
* bad inventories (preflight problems and files the real tools refuse) fail with a message naming the
  variable, never a secret, every file byte-identical (mode, inode, mtime) and every service still
  serving the previous configuration.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml

from tests.integration.monitoring_lab import (
    ROUTERS, WEBHOOK_SECRET, Daemons, changed_tasks, failures, free_port, host_vars, playbook, results, run_playbook,
    tree, write_inventory)

pytestmark = pytest.mark.slow

BAD_RULES = "groups:\n  - name: broken\n    rules:\n      - alert: SiteDown\n        expr: up == == 0\n" \
            "        labels: {severity: critical}\n        annotations: {summary: s}\n"
DUPLICATE = "groups:\n  - name: again\n    rules:\n      - alert: TargetDown\n        expr: up == 0\n" \
            "        labels: {severity: critical}\n        annotations: {summary: s}\n"


def bad_cases(tmp_path):
    """host name -> (variables that break it, a fragment of the message naming the variable)."""
    (tmp_path / "broken.rules.yml").write_text(BAD_RULES)
    (tmp_path / "unparsable.rules.yml").write_text("groups: [\n")
    (tmp_path / "duplicate.rules.yml").write_text(DUPLICATE)
    return {
        "route-without-host": ({"traefik_routes_routers": dict(ROUTERS, api={"rule": "PathPrefix(`/api`)", "service": "s"})},
                               "traefik_routes_routers.api (edge host route-without-host) has no Host(`...`) matcher"),
        "receiver-url": ({"monitoring_alertmanager_receivers": [{"name": "oncall", "webhook_configs": [
            {"url": "hooks.example.test/services/T0KEN-s3cr3t"}]}]},
            "monitoring_alertmanager_receivers[0] (oncall).webhook_configs[0].url is not an absolute http(s) URL"),
        "rules-unparsable": ({"monitoring_rule_files_extra": [str(tmp_path / "unparsable.rules.yml")]},
                             "monitoring_rule_files_extra[0] (%s): not valid YAML" % (tmp_path / "unparsable.rules.yml")),
        "rules-bad-promql": ({"monitoring_rule_files_extra": [str(tmp_path / "broken.rules.yml")]},
                             "refused by promtool"),
        "install-method": ({"monitoring_install_method": "docker"}, "monitoring_install_method"),
        "target-without-port": ({"monitoring_extra_scrape_configs": [
            {"job_name": "fetcherpay-api", "static_configs": [{"targets": ["fetcherpay-api"]}]}]},
            "monitoring_extra_scrape_configs[0] (fetcherpay-api).static_configs[0]: target 'fetcherpay-api' has no port"),
        "duplicate-alert": ({"monitoring_rule_files_extra": [str(tmp_path / "duplicate.rules.yml")]},
                            "alert TargetDown is defined twice"),
        "route-unknown-receiver": ({"monitoring_alertmanager_routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}]},
                                   "monitoring_alertmanager_routes[0].receiver 'pager' is not a receiver"),
        "amtool-refuses": ({"monitoring_alertmanager_routes": [{"matchers": ['severity=~"(critical"'], "receiver": "oncall"}]},
                           "alertmanager/alertmanager.yml refused by amtool"),
        "blackbox-refuses": ({"monitoring_blackbox_modules_extra": {"http_post": {"prober": "http", "http": {"body_size": 3}}}},
                             "blackbox/blackbox.yml refused by blackbox_exporter"),
        "promtool-refuses-config": ({"monitoring_extra_scrape_configs": [
            {"job_name": "fetcherpay-api", "scrape_interval": "often", "static_configs": [{"targets": ["127.0.0.1:3000"]}]}]},
            "prometheus/prometheus.yml refused by promtool"),
        "placeholder": ({"monitoring_alertmanager_heartbeat_url": "https://hc.example.test/ping/CHANGE_ME"},
                        "monitoring_alertmanager_heartbeat_url is still the CHANGE_ME placeholder"),
        "missing-rule-file": ({"monitoring_rule_files_extra": [str(tmp_path / "nowhere.rules.yml")]},
                              "monitoring_rule_files_extra lists files that do not exist on the controller"),
        "for-unknown-alert": ({"monitoring_alert_for": {"SiteDown": "1m"}}, "monitoring_alert_for: no alert named SiteDown"),
        "timeout-over-interval": ({"monitoring_scrape_timeout": "1m"},
                                  "monitoring_scrape_timeout (1m) is longer than monitoring_scrape_interval (30s)"),
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory, monitoring_tools):
    """A monitoring host on localhost whose configuration the role put in place while the daemons ran."""
    tmp = tmp_path_factory.mktemp("monitoring")
    ports = {"prometheus": free_port(), "alertmanager": free_port(), "blackbox": free_port()}
    config = tmp / "config"
    for path, text in (("prometheus/prometheus.yml", "global: {scrape_interval: 1m}\n"),
                       ("alertmanager/alertmanager.yml", "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n"),
                       ("blackbox/blackbox.yml", "modules: {}\n")):
        (config / path).parent.mkdir(parents=True, exist_ok=True)
        (config / path).write_text(text)
    daemons = Daemons(monitoring_tools, config, tmp / "data", ports).start()
    started = daemons.served()
    inventory = write_inventory(tmp / "inventory", {"good": host_vars(monitoring_tools, config, ports)})
    first = run_playbook(inventory, playbook(tmp / "config.yml"), "--diff")
    yield {"tmp": tmp, "ports": ports, "config": config, "daemons": daemons, "started": started, "first": first,
           "inventory": inventory, "tools": monitoring_tools}
    daemons.stop()


def test_the_configuration_is_put_in_place_and_reloaded_not_restarted(lab):
    rc, report, stderr = lab["first"]
    assert rc == 0, failures(report) or stderr
    served = lab["daemons"].served()
    assert served["alive"] and served["pids"] == lab["started"]["pids"]
    assert served["alertmanager_uptime"] == lab["started"]["alertmanager_uptime"], "Alertmanager was restarted"
    prometheus = yaml.safe_load(served["prometheus"])
    assert [job["job_name"] for job in prometheus["scrape_configs"]] == [
        "prometheus", "alertmanager", "blackbox_exporter", "node", "docker_engine", "traefik", "blackbox"]
    rules = json.loads(lab["daemons"].get("prometheus", "/api/v1/rules"))["data"]["groups"]
    assert {"TargetDown", "CertificateExpiringSoon", "CertificateRotationStale", "Watchdog"} <= {
        rule["name"] for group in rules for rule in group["rules"]}
    alertmanager = yaml.safe_load(served["alertmanager"])
    assert alertmanager["route"]["routes"][0]["receiver"] == "heartbeat"
    assert "hermes_health" in served["blackbox"]
    for name in ("Reload Prometheus", "Reload Alertmanager", "Reload the blackbox exporter"):
        assert results(report, "good", name)[0].get("status") == 200, name
    # file_sd targets: generated from the routers, read by Prometheus without a reload
    wanted = {"https://shop.example.test/", "shop.example.test:443", "https://mcp.example.test/health"}
    deadline = time.monotonic() + 30  # Prometheus hands discovered targets over in batches every 5s
    while True:
        targets = json.loads(lab["daemons"].get("prometheus", "/api/v1/targets?state=active"))["data"]["activeTargets"]
        probed = {t["labels"]["instance"] for t in targets if t["labels"].get("job") == "blackbox"}
        if probed >= wanted or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert probed >= wanted


def test_diff_never_shows_the_receivers_secrets(lab):
    _rc, report, _stderr = lab["first"]
    text = json.dumps(report)
    assert "prometheus/rules/targets.rules.yml" in text  # the diff is there ...
    assert "T0KEN-s3cr3t" not in text and "heartbeat-uuid" not in text  # ... without secret values
    mode = lab["config"].joinpath("alertmanager/alertmanager.yml").stat().st_mode & 0o777
    assert mode == 0o640


def test_a_second_run_changes_nothing_and_reloads_nothing(lab):
    before = tree(lab["config"])
    rc, report, stderr = run_playbook(lab["inventory"], playbook(lab["tmp"] / "config.yml"))
    assert rc == 0, failures(report) or stderr
    assert changed_tasks(report) == []
    assert not [outcome for outcome in results(report, "good", "Reload") if not outcome.get("skipped")]
    assert tree(lab["config"]) == before


def test_check_mode_reports_a_new_route_and_writes_nothing(lab):
    before, served = tree(lab["config"]), lab["daemons"].served()
    routers = dict(ROUTERS, docs={"rule": "Host(`docs.example.test`)", "entryPoints": ["websecure"], "service": "s"})
    rc, report, stderr = run_playbook(lab["inventory"], playbook(lab["tmp"] / "config.yml"), "--check", "--diff",
                                      "-e", json.dumps({"traefik_routes_routers": routers}))
    assert rc == 0, failures(report) or stderr
    outcome = results(report, "good", "Put the configuration in place")[0]
    assert outcome["changed"] and "https://docs.example.test/" in json.dumps(outcome["diff"])
    assert outcome["written"] == ["prometheus/file_sd/blackbox_http.yml", "prometheus/file_sd/blackbox_tls.yml"]
    assert tree(lab["config"]) == before and lab["daemons"].served() == served


def test_bad_inventories_are_refused_and_the_previous_configuration_keeps_serving(lab):
    cases = bad_cases(lab["tmp"])
    hosts = {name: host_vars(lab["tools"], lab["config"], lab["ports"], **variables) for name, (variables, _f) in cases.items()}
    inventory = write_inventory(lab["tmp"] / "bad-inventory", hosts)
    before, served = tree(lab["config"]), lab["daemons"].served()
    rc, report, stderr = run_playbook(inventory, playbook(lab["tmp"] / "config.yml"))
    assert rc != 0
    failed = failures(report)
    assert sorted(failed) == sorted(cases), stderr[-3000:]
    for name, (_variables, fragment) in cases.items():
        assert fragment in failed[name], (name, failed[name])
        assert "T0KEN-s3cr3t" not in failed[name] and WEBHOOK_SECRET not in failed[name], name
    assert "Nothing was written: the running services keep their configuration" in failed["rules-bad-promql"]
    assert tree(lab["config"]) == before, "a refused run changed a file"
    assert lab["daemons"].served() == served, "a refused run changed what a service serves"
    assert len(cases) >= 10


def test_the_refusal_of_amtool_shows_its_reason_without_urls(lab):
    variables = {"monitoring_alertmanager_routes": [{"matchers": ['severity=~"(critical"'], "receiver": "oncall"}]}
    inventory = write_inventory(lab["tmp"] / "amtool-inventory", {
        "amtool": host_vars(lab["tools"], lab["config"], lab["ports"], **variables)})
    rc, report, _stderr = run_playbook(inventory, playbook(lab["tmp"] / "config.yml"))
    message = failures(report)["amtool"]
    assert rc != 0 and "missing closing )" in message and "hooks.example.test" not in message


def test_the_reload_is_what_makes_the_services_read_a_change(lab):
    """A changed `for:` reaches Prometheus through the reload handler, in the same process."""
    pid = lab["daemons"].served()["pids"]["prometheus"]
    rc, report, stderr = run_playbook(lab["inventory"], playbook(lab["tmp"] / "config.yml"),
                                      "-e", json.dumps({"monitoring_alert_for": {"TargetDown": "7m"}}))
    assert rc == 0, failures(report) or stderr
    assert results(report, "good", "Reload Prometheus")[0]["status"] == 200
    assert results(report, "good", "Reload Alertmanager")[0].get("skipped")  # only the service whose file changed
    rules = json.loads(lab["daemons"].get("prometheus", "/api/v1/rules"))["data"]["groups"]
    assert [r["duration"] for g in rules for r in g["rules"] if r["name"] == "TargetDown"] == [420]
    assert lab["daemons"].served()["pids"]["prometheus"] == pid
    rc, report, stderr = run_playbook(lab["inventory"], playbook(lab["tmp"] / "config.yml"))  # back to the role's 2m
    assert rc == 0, failures(report) or stderr
    with urllib.request.urlopen(lab["daemons"].url("prometheus", "/api/v1/rules"), timeout=5) as response:
        rules = json.loads(response.read())["data"]["groups"]
    assert [r["duration"] for g in rules for r in g["rules"] if r["name"] == "TargetDown"] == [120]

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runbook findings and reports (module_utils/_runbook.py, _runbook_report.py) on data the edge outage runbook
collected on the outage lab (tests/fixtures/runbook/outage.json: broken on purpose, then after repair=true) and on
small variations of it."""

from __future__ import annotations

import copy
import datetime
import json
import pathlib

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _runbook, _runbook_report

FIXTURE = json.loads((pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "runbook" / "outage.json").read_text())
HOST = "sq-outage-1"
REPAIR = "ansible-playbook -i inventory/lab playbooks/runbooks/edge_outage.yml -e repair=true"
EXPECTED = {
    "edge_owner": "docker",
    "cluster_nodes": [HOST],
    "managed_files": ["routes.yml", "dashboard.yml", "certificates.yml"],
    "cert_min_days": 14,
    "per_host": {HOST: _runbook.edge_expectations({"traefik_routes_routers": {"hermes": {}, "squaremcp-site": {}}})},
    "commands": {"repair": REPAIR},
}
MOMENT = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.timezone.utc)


def data(name="broken"):
    return copy.deepcopy(FIXTURE[name])


def kinds(found):
    return sorted((f.kind, f.subject) for f in found)


def traefik(d):
    return d["edge"][HOST]["traefik"]


def test_every_fault_of_the_outage_is_named():
    found = _runbook.findings(data(), EXPECTED)
    assert kinds(found) == [
        ("certificate_file", "/etc/traefik/certs/manual-mcp.crt"),
        ("dashboard_exposed", "api.insecure"),
        ("edge_container", "traefik"),
        ("edge_ports", "80/443"),
        ("ingress_unserved", "hermes-mcp/hermes-mcp"),
        ("route_file_unparsable", "routes.yml"),
        ("router_extra", "legacy"),
    ]
    assert all(f.severity == _runbook.CRITICAL and f.fix.startswith(REPAIR) for f in found)
    extra = next(f for f in found if f.kind == "router_extra")
    assert extra.path == "/opt/traefik/dynamic/hand.yml" and "repair moves it to quarantine" in extra.summary


def test_the_repaired_lab_is_clean():
    assert _runbook.findings(data("repaired"), EXPECTED) == []


def test_repair_steps_and_quarantine_follow_the_findings():
    found = _runbook.findings(data(), EXPECTED)
    assert _runbook.repair_steps(found) == {"certs": [HOST], "edge": [HOST], "k8s": [HOST]}
    assert _runbook.quarantine_files(found, HOST, EXPECTED["managed_files"]) == ["/opt/traefik/dynamic/hand.yml"]
    assert _runbook.quarantine_files(found, "other", EXPECTED["managed_files"]) == []
    # only the edge being down needs only the edge step (issue 15: not 30 microk8s tasks)
    down = data("repaired")
    down["edge"][HOST]["docker_ps"] = ""
    down["edge"][HOST]["container"].update(state="exited", exit_code=137)
    assert _runbook.repair_steps(_runbook.findings(down, EXPECTED)) == {"edge": [HOST]}


def test_missing_and_hand_added_routers_in_the_roles_own_file():
    d = data("repaired")
    routers = traefik(d)["routers"]
    routers["hand-made"] = dict(routers["hermes"], hosts=["x.squaremcp.test"])
    del routers["squaremcp-site"]
    found = {f.kind: f for f in _runbook.findings(d, EXPECTED)}
    assert found["router_missing"].subject == "squaremcp-site"
    assert "routes.yml in the inventory" in found["router_missing"].summary
    assert found["router_extra"].subject == "hand-made" and "quarantine" not in found["router_extra"].summary
    assert _runbook.quarantine_files(list(found.values()), HOST, EXPECTED["managed_files"]) == []


def test_split_edge_needs_the_cluster_step_and_undecided_design_needs_a_person():
    d = data("repaired")
    d["edge"][HOST]["docker_ps"] = "traefik\t0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp"
    d["cluster"][HOST]["daemonsets"] = {"ports": [80, 443], "daemonsets": {"ingress/nginx": [80, 443]}}
    split = [f for f in _runbook.findings(d, EXPECTED) if f.kind == "edge_ports"]
    assert len(split) == 1 and split[0].repair == "k8s"
    undecided = [f for f in _runbook.findings(d, dict(EXPECTED, edge_owner="")) if f.kind == "edge_ports"]
    assert undecided[0].repair == "" and "microk8s_edge_owner" in undecided[0].fix
    # an edge host that is not a cluster node is not affected by the DaemonSets' host ports
    assert not [f for f in _runbook.findings(d, dict(EXPECTED, cluster_nodes=[])) if f.kind == "edge_ports"]


def test_dashboard_exposure():
    d = data("repaired")
    d["edge"][HOST]["docker_ps"] = "traefik\t0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp, 0.0.0.0:8080->8080/tcp"
    traefik(d)["dashboard"]["unprotected"] = [{"router": "api", "file": "/opt/traefik/dynamic/x.yml",
                                               "auth": False, "tls": True}]
    found = [f for f in _runbook.findings(d, EXPECTED) if f.kind == "dashboard_exposed"]
    assert sorted(f.subject for f in found) == ["8080", "api"]
    assert "reaches the Traefik API without authentication" in next(f.summary for f in found if f.subject == "api")


def test_certificates_served_live():
    d = data("repaired")
    served = traefik(d)["endpoint"]["served"]
    served[0].update(days_left=1, not_after="2026-12-04T00:00:00Z")
    served[1].update(covers=False, domains=["other.example"])
    served[2].update(answered=False, error="handshake failure")
    found = {f.subject: f for f in _runbook.findings(d, EXPECTED) if f.kind == "certificate_served"}
    assert found[served[0]["server_name"]].severity == _runbook.CRITICAL
    assert "expires in 1 day(s)" in found[served[0]["server_name"]].summary
    assert found[served[1]["server_name"]].severity == _runbook.WARNING
    assert "handshake" in found[served[2]["server_name"]].summary
    # nothing answers at all: one endpoint finding, no per-name noise
    traefik(d)["endpoint"].update(answered=False, error="127.0.0.1:443: Connection refused")
    found = _runbook.findings(d, EXPECTED)
    assert kinds(found) == [("edge_endpoint", "127.0.0.1:443")]


def test_unreachable_hosts_and_unreadable_cluster():
    d = _runbook.assemble({HOST: {"before": {"reached": False, "error": "unreachable: ssh timeout"}}}, "before",
                          [HOST, "sq-gone"])
    found = _runbook.findings(d, EXPECTED)
    assert [(f.kind, f.host) for f in found] == [("host_unreachable", "sq-gone"), ("host_unreachable", HOST)]
    assert "did not run on sq-gone" in found[0].summary and "ssh timeout" in found[1].summary
    assert found[0].repair == "" and "ansible.builtin.ping" in found[0].fix
    d = data("repaired")
    d["cluster"][HOST] = {"error": "Find every DaemonSet: connection refused"}
    assert kinds(_runbook.findings(d, EXPECTED)) == [("cluster_api", HOST)]


def test_assemble_keeps_sections_of_reached_hosts():
    collected = {HOST: {"before": {"reached": True, "edge": {"x": 1}, "cluster": {"y": 2}}, "after": {}}}
    d = _runbook.assemble(collected, "before", [HOST])
    assert d["hosts"] == {HOST: {"reached": True, "error": ""}}
    assert d["edge"] == {HOST: {"x": 1}} and d["cluster"] == {HOST: {"y": 2}} and d["stacks"] == {}
    assert _runbook.assemble(collected, "after", [HOST])["hosts"][HOST]["reached"] is False


def test_stacks_and_monitoring():
    d = {"hosts": {HOST: {"reached": True}},
         "stacks": {HOST: {"problems": [
             {"project": "fetcherpay", "service": "api", "state": "exited", "exit_code": 137},
             {"project": "hermes", "service": "hermes", "state": "running", "health": "unhealthy"},
             {"project": "gitea", "service": "gitea", "state": "exited", "exit_code": 0, "maintenance": True,
              "problem": "exited with code 0"}]}},
         "monitoring": {HOST: {"prometheus": {"url": "http://127.0.0.1:9090", "ready": False, "error": "refused"},
                               "alertmanager": {"url": "http://127.0.0.1:9093", "ready": True},
                               "alerts": [{"name": "Watchdog"}, {"name": "TargetDown", "severity": "critical",
                                                                 "instance": "hermes:3000", "summary": "down"}]}}}
    found = _runbook.findings(d, EXPECTED)
    assert [(f.kind, f.subject) for f in found] == [
        ("stack_service", "fetcherpay/api"), ("stack_service", "hermes/hermes"), ("monitoring_down", "prometheus"),
        ("alert_firing", "TargetDown:hermes:3000"), ("stack_service", "gitea/gitea")]
    assert found[-1].severity == _runbook.INFO and "maintenance" in found[-1].summary and found[-1].repair == ""
    assert "exited (exit code 137)" in found[0].summary and "running but unhealthy" in found[1].summary
    assert [f.kind for f in _runbook.problems(found)] == ["stack_service", "stack_service", "monitoring_down"]
    assert _runbook.repair_steps(found) == {"stacks": [HOST]}


@pytest.mark.parametrize("host_vars, collects", [
    ({}, False), ({"stacks_stacks": {}}, False), ({"stacks_stacks": {"hermes": {}}}, True),
    ({"stacks_stacks": {"hermes": {}}, "runbook_stacks_enabled": False}, False),
    ({"stacks_stacks": {"hermes": {}}, "runbook_stacks_enabled": "no"}, False),
    ({"runbook_stacks_enabled": True}, True), ({"runbook_stacks_enabled": "true"}, True)])
def test_the_runbooks_collect_the_stacks_of_hosts_that_have_them(host_vars, collects):
    assert _runbook.collects_stacks(host_vars) is collects


def test_after_a_repair_a_fix_is_not_suggested_again():
    found = _runbook.findings(data(), EXPECTED, repaired=True)
    assert all(f.fix.startswith("repair=true did not clear it") for f in found)


def test_edge_expectations():
    assert _runbook.edge_expectations({"traefik_routes_routers": {"b": {}, "a": {}}, "traefik_dashboard_enabled": False,
                                       "cert_rotation_config_path": "/opt/traefik/dynamic/tls.yml"}) == {
        "routers": {"routes.yml": ["a", "b"], "dashboard.yml": []},
        "managed_files": ["routes.yml", "dashboard.yml", "tls.yml"], "container": "traefik"}


# --- reports ---------------------------------------------------------------------------------------

def build(**kwargs):
    args = dict(runbook="edge_outage", title="Edge outage", data=data(), expected=EXPECTED, finished=MOMENT,
                inventory=["inventory/lab"])
    args.update(kwargs)
    return _runbook_report.build(**args)


def test_read_only_report():
    report = build()
    assert report["ok"] is False and report["mode"] == "read-only" and report["repair"]["ran"] is False
    assert len(report["findings"]) == 7 and "resolved" not in report
    assert report["summary"][0] == "Edge outage: 7 problem(s) found"
    assert "fix: %s (re-sync the edge (traefik role: container, static and dynamic files, quarantine))" % REPAIR \
        in report["summary"]
    markdown = _runbook_report.render_markdown(report)
    assert markdown.startswith("# Edge outage - 2026-12-03T10:00:00Z\n")
    assert "| critical | sq-outage-1 | router_extra | router legacy in /opt/traefik/dynamic/hand.yml" in markdown
    assert "| routes.yml | NO: /opt/traefik/dynamic/routes.yml does not parse" in markdown
    assert json.loads(_runbook_report.render_json(report))["findings"][0]["id"].startswith("certificate_file:")


def test_repair_report_says_what_changed():
    after = data("repaired")
    after["edge"][HOST]["traefik"]["routers"]["stray"] = dict(after["edge"][HOST]["traefik"]["routers"]["hermes"])
    report = build(data_after=after, repair={"requested": True, "steps": {"edge": [HOST]},
                                             "errors": {HOST: "Sync: refused"}}, mode="repair")
    assert report["ok"] is False
    assert len(report["resolved"]) == 7 and report["still_wrong"] == []
    assert [f["subject"] for f in report["new"]] == ["stray"]
    assert report["summary"][0] == "Edge outage after repair: 7 of 7 problem(s) resolved, 0 still wrong, 1 new"
    markdown = _runbook_report.render_markdown(report)
    for part in ("### Resolved by the repair", "### Still wrong", "### New since the repair", "- error on sq-outage-1"):
        assert part in markdown
    clean = build(data_after=data("repaired"), repair={"requested": True, "steps": {"edge": [HOST]}})
    assert clean["ok"] is True and clean["findings"] == [] and clean["summary"][0].endswith("0 still wrong, 0 new")


def test_previous_reports(tmp_path):
    first = build()
    json_path, _md = _runbook_report.paths(str(tmp_path), "edge_outage", MOMENT)
    pathlib.Path(json_path).write_text(_runbook_report.render_json(first))
    (tmp_path / "restore_services-20991231T000000Z.json").write_text("{}")  # another runbook: ignored
    previous = _runbook_report.previous_report(str(tmp_path), "edge_outage")
    assert previous["path"] == json_path
    second = build(data=data("repaired"), previous=previous)
    assert second["previous"]["gone_since"] == sorted(f["id"] for f in first["findings"])
    later = MOMENT + datetime.timedelta(hours=1)
    broken_path, _md = _runbook_report.paths(str(tmp_path), "edge_outage", later)
    pathlib.Path(broken_path).write_text('{"findings": [tr')
    malformed = _runbook_report.previous_report(str(tmp_path), "edge_outage")
    assert malformed["path"] == broken_path and "is not a readable report" in malformed["error"]
    third = build(previous=malformed)
    assert third["previous"] == {"path": broken_path, "error": malformed["error"]}
    assert third["summary"][-1].startswith("note: ") and "was not compared" in third["summary"][-1]
    assert _runbook_report.previous_report(str(tmp_path / "missing"), "edge_outage") == {}


def test_no_secret_value_reaches_a_report():
    d = data()
    d["edge"][HOST]["error"] = ""
    d["cluster"][HOST]["error"] = "login failed: password: canary-password-1 url https://u:canary-password-2@x/"
    d["edge"][HOST]["traefik"]["static"]["error"] = "GODADDY_API_SECRET=canary-password-3"
    report = build(data=d)
    text = _runbook_report.render_json(report) + _runbook_report.render_markdown(report)
    assert "canary-password" not in text
    assert "password: <redacted>" in text


@pytest.mark.parametrize("name, ok", [("edge_outage-20261203T100000Z.json", True),
                                      ("edge_outage-latest.json", False), ("edge_outage-20261203T100000Z.md", False)])
def test_report_names(name, ok):
    assert (_runbook_report._runbook_of(name) == "edge_outage") is ok

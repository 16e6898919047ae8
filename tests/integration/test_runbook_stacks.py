# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbooks against real stack_health results: a uniquely named Compose project of the stand-in image on the
host's Docker daemon (the four services of test_stack_health.py; web's probe prints a secret file), localhost a
Docker host with stacks (stacks_stacks), nothing else turned on. A stopped service and an unhealthy one are named in
the report of restore_services.yml and edge_outage.yml; --check -e repair=true changes nothing; the fix the report
suggests, run as printed, brings them back and the report after it says so; the secret never appears. The project
is removed afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.test_runbooks import RUNNING, edge_tree, last_report, reports, run_fix, run_playbook
from tests.integration.test_stack_health import TOKEN, compose_project, compose_up, docker

pytestmark = pytest.mark.slow
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RESTORE = os.path.join(ROOT, "playbooks", "runbooks", "restore_services.yml")
OUTAGE = os.path.join(ROOT, "playbooks", "runbooks", "edge_outage.yml")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with compose_project(tmp_path_factory.mktemp("runbook_stacks"), "sqrb-it") as created:
        yield created


def status(project, service):
    """(state, health) of one service's container."""
    found = docker("inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                   "%s-%s-1" % (project["name"], service), check=False)
    return tuple((found.stdout.split() + ["missing", ""])[:2]) if found.returncode == 0 else ("missing", "")


def break_stack(project):
    """db stopped, web failing its health check (the stand-in fails its probe while the flag file exists)."""
    compose_up(project)
    docker("stop", "-t", "1", "%s-db-1" % project["name"])
    docker("exec", "%s-web-1" % project["name"], "touch", "/tmp/standin-unhealthy")
    for _attempt in range(60):
        if status(project, "web") == ("running", "unhealthy"):
            return
        subprocess.run(["sleep", "1"], check=False)
    pytest.fail("web never became unhealthy")


def docker_host(project, **extra):
    variables = dict(ansible_connection="local", ansible_python_interpreter=sys.executable,
                     ansible_become=False, stacks_stacks={project["name"]: {}}, runbook_stacks_projects=[project["name"]],
                     stacks_root=str(project["work"] / "stacks"), stacks_maintenance_dir=str(project["work"] / "maintenance"),
                     stacks_lock_file=str(project["work"] / "lock"), runbook_stacks_timeout=120)
    variables.update(extra)
    return variables


def stack_findings(report):
    return sorted((f["subject"], f["summary"]) for f in report["findings"] if f["kind"].startswith("stack"))


def test_restore_services_names_a_stopped_and_an_unhealthy_service_and_its_fix_restores_them(stack, tmp_path):
    break_stack(stack)
    groups = {"docker_hosts": {"hosts": {"localhost": docker_host(stack)}}}

    checked = run_playbook(tmp_path, RESTORE, groups, "-e", "repair=true", "--check")
    assert checked.returncode != 0, checked.stdout[-3000:]
    assert (status(stack, "db")[0], status(stack, "web")) == ("exited", ("running", "unhealthy")), "check mode acted"
    assert reports(tmp_path, "restore_services") == [] and "(not written: check mode)" in checked.stdout

    first = run_playbook(tmp_path, RESTORE, groups)
    assert first.returncode != 0, first.stdout[-3000:]
    report = last_report(tmp_path, "restore_services")
    found = stack_findings(report)
    assert [subject for subject, _summary in found] == ["%s/db" % stack["name"], "%s/web" % stack["name"]], found
    assert "exited" in found[0][1]
    assert "unhealthy" in found[1][1]
    fixes = {f["fix"] for f in report["findings"]}
    assert fixes == {"ansible-playbook -i inventory.yml %s -e repair=true (restore the stacks in dependency order "
                     "(stack_health restore))" % RESTORE}, fixes
    assert status(stack, "db")[0] == "exited", "a read-only run restored something"

    fixed = run_fix(tmp_path, fixes.pop())
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert (status(stack, "db"), status(stack, "web")) == (("running", "healthy"), ("running", "healthy"))
    report = last_report(tmp_path, "restore_services")
    assert report["ok"] is True and report["findings"] == [] and report["still_wrong"] == []
    assert sorted(f["subject"] for f in report["resolved"]) == ["%s/db" % stack["name"], "%s/web" % stack["name"]]
    assert report["repair"]["steps"] == {"stacks": ["localhost"]}
    assert "Restore services after repair: 2 of 2 problem(s) resolved, 0 still wrong, 0 new" in fixed.stdout
    markdown = sorted((tmp_path / "reports").glob("restore_services-*.md"))[-1].read_text()
    assert "%s/web" % stack["name"] in markdown

    written = "".join(p.read_text() for p in (tmp_path / "reports").iterdir())
    assert TOKEN not in written + first.stdout + fixed.stdout + checked.stdout

    clean = run_playbook(tmp_path, RESTORE, groups)
    assert clean.returncode == 0 and "Restore services: all clear" in clean.stdout, clean.stdout[-3000:]


def test_edge_outage_finds_the_stack_down_and_repair_restores_it(stack, tmp_path):
    break_stack(stack)
    edge = dict(docker_host(stack), microk8s_docker_published=[{"name": "traefik", "ports": [80, 443]}],
                runbook_edge_container=RUNNING, runbook_endpoint_port=0, traefik_config_dir=str(edge_tree(tmp_path)),
                traefik_routes_routers={"site": {"rule": "Host(`squaremcp.test`)"}}, traefik_dashboard_enabled=False)
    groups = {"edge": {"hosts": {"localhost": edge}}, "docker_hosts": {"hosts": {"localhost": None}}}
    first = run_playbook(tmp_path, OUTAGE, groups)
    assert first.returncode != 0, first.stdout[-3000:]
    subjects = [subject for subject, _summary in stack_findings(last_report(tmp_path))]
    assert subjects == ["%s/db" % stack["name"], "%s/web" % stack["name"]], last_report(tmp_path)["findings"]

    repaired = run_playbook(tmp_path, OUTAGE, groups, "-e", "repair=true")
    report = last_report(tmp_path)
    assert (status(stack, "db"), status(stack, "web")) == (("running", "healthy"), ("running", "healthy"))
    assert report["repair"]["steps"]["stacks"] == ["localhost"]
    assert sorted(f["subject"] for f in report["resolved"] if f["kind"] == "stack_service") == subjects
    assert report["ok"] is True and report["findings"] == [] and repaired.returncode == 0, repaired.stdout[-3000:]
    assert "Edge outage after repair: 2 of 2 problem(s) resolved, 0 still wrong, 0 new" in repaired.stdout


def test_restore_services_refuses_when_no_host_has_stacks(stack, tmp_path):
    groups = {"docker_hosts": {"hosts": {"localhost": docker_host(stack, runbook_stacks_enabled=False)}}}
    refused = run_playbook(tmp_path, RESTORE, groups)
    assert refused.returncode != 0
    assert "no host of docker_hosts has any: list them in stacks_stacks" in refused.stdout, refused.stdout[-3000:]
    assert reports(tmp_path, "restore_services") == []


def test_a_stack_in_maintenance_is_listed_not_restored_and_the_run_succeeds(stack, tmp_path):
    """Exit status non-zero exactly when something is wrong: a stopped service under the operator's maintenance
    flag is listed (info) and left alone, even with repair=true, and the run exits 0."""
    compose_up(stack)
    flag = stack["work"] / "maintenance" / stack["name"]
    flag.touch()
    docker("stop", "-t", "1", "%s-db-1" % stack["name"])
    try:
        result = run_playbook(tmp_path, RESTORE, {"docker_hosts": {"hosts": {"localhost": docker_host(stack)}}},
                              "-e", "repair=true")
        assert result.returncode == 0, result.stdout[-3000:]
        report = last_report(tmp_path, "restore_services")
        assert [(f["subject"], f["severity"]) for f in report["findings"]] == [("%s/db" % stack["name"], "info")]
        assert "(stack in maintenance)" in report["findings"][0]["summary"] and report["repair"]["steps"] == {}
        assert status(stack, "db")[0] == "exited"
    finally:
        flag.unlink()
        compose_up(stack)

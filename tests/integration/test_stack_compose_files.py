# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stacks watchdog and a Compose project OUTSIDE stacks_dir (``compose_files``; the role's
stacks_watchdog_extra_projects, in production the Traefik edge) against the host's real Docker daemon.

Beside the four-service stack of test_stack_health (in ``<work>/stacks``), an "edge" project of the stand-in image
lives in ``<work>/compose/<name>/compose.yml`` with proxy (health check) and logs (none). Stopped and removed, both
come back with the edge's own compose file and show in the metrics under ``stack=<edge>``; with the edge's
maintenance flag nothing of it is restored; with its compose file gone the run names the file, exits 1, still
starts what can be started and restores the stack. Everything the tests create is removed.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_stack_health import PROBE, compose_project, docker, standin, state, watchdog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """The stack (test_stack_health's project) and the edge project outside its stacks_dir, both up and healthy."""
    with compose_project(tmp_path_factory.mktemp("compose_files"), "sqstk-cf") as stack:
        name = "sqedge-%s" % uuid.uuid4().hex[:8]
        directory = stack["work"] / "compose" / name
        directory.mkdir(parents=True)
        probe = ["CMD", "app-standin", "probe", "http://127.0.0.1:3000/health"]
        compose = directory / "compose.yml"
        compose.write_text(yaml.safe_dump({"name": name, "services": {
            "proxy": standin("proxy", healthcheck=dict(PROBE, test=probe)), "logs": standin("logs")}}))
        try:
            up = subprocess.run(["docker", "compose", "--file", str(compose), "up", "-d", "--wait"],
                                capture_output=True, text=True, check=False)
            assert up.returncode == 0, up.stderr
            yield dict(stack, edge=name, compose=compose)
        finally:
            subprocess.run(["docker", "compose", "--project-name", name, "down", "--timeout", "1"],
                           capture_output=True, check=False)


def run(project, **extra):
    return watchdog(project, compose_files={project["edge"]: str(project["compose"])}, **extra)


def edge_state(project, service):
    return state({"name": project["edge"]}, service)


def series(project):
    text = (project["work"] / "stacks.prom").read_text()
    return {(s.name, s.labels.get("stack"), s.labels.get("service")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_stopped_and_removed_edge_services_come_back_with_its_compose_file(edge):
    docker("stop", "-t", "1", "%s-proxy-1" % edge["edge"])
    docker("rm", "-f", "%s-logs-1" % edge["edge"])
    docker("stop", "-t", "1", "%s-db-1" % edge["name"])
    done = run(edge)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "start %s/proxy (%s-proxy-1): done" % (edge["edge"], edge["edge"]) in done.stdout
    assert "create %s/logs (-): done" % edge["edge"] in done.stdout
    assert "start %s/db" % edge["name"] in done.stdout
    assert [edge_state(edge, s) for s in ("proxy", "logs")] == ["running", "running"]
    # created by the watchdog's compose up: the same project, its directory and file
    labels = docker("inspect", "-f", '{{index .Config.Labels "com.docker.compose.project.working_dir"}} '
                    '{{index .Config.Labels "com.docker.compose.project.config_files"}}',
                    "%s-logs-1" % edge["edge"]).stdout.split()
    assert labels == [str(edge["compose"].parent), str(edge["compose"])]
    found = series(edge)
    for service in ("proxy", "logs"):
        assert found[("squaremcp_stack_service_up", edge["edge"], service)] == 1
        assert found[("squaremcp_stack_service_healthy", edge["edge"], service)] == 1
        assert found[("squaremcp_stack_service_restarts_total", edge["edge"], service)] >= 1
    assert found[("squaremcp_stack_maintenance", edge["edge"], None)] == 0
    assert found[("squaremcp_stack_service_up", edge["name"], "db")] == 1


def test_the_edge_maintenance_flag_leaves_it_alone(edge):
    flag = edge["maintenance"] / edge["edge"]
    flag.touch()
    try:
        docker("stop", "-t", "1", "%s-proxy-1" % edge["edge"])
        held = run(edge)
        assert held.returncode == 0, held.stdout + held.stderr  # maintenance is not a failure
        assert "start %s/proxy (%s-proxy-1): skipped: maintenance flag set" % (edge["edge"], edge["edge"]) in held.stdout
        assert edge_state(edge, "proxy") == "exited"
        found = series(edge)
        assert found[("squaremcp_stack_maintenance", edge["edge"], None)] == 1
        assert found[("squaremcp_stack_service_up", edge["edge"], "proxy")] == 0
    finally:
        flag.unlink()
    assert run(edge).returncode == 0 and edge_state(edge, "proxy") == "running"


def test_a_gone_compose_file_is_named_and_the_other_projects_are_still_restored(edge):
    moved = edge["compose"].with_name("compose.yml.away")
    edge["compose"].rename(moved)
    try:
        docker("stop", "-t", "1", "%s-proxy-1" % edge["edge"])
        docker("rm", "-f", "%s-logs-1" % edge["edge"])
        docker("stop", "-t", "1", "%s-db-1" % edge["name"])
        done = run(edge)
        assert done.returncode == 1, done.stdout + done.stderr
        assert ("project %s: its compose file %s is missing: converge the role that writes it, or take %s out of "
                "compose_files (stacks_watchdog_extra_projects" % (edge["edge"], edge["compose"], edge["edge"])
                in done.stderr), done.stderr
        # the stack and the edge's stopped container come back; its removed service cannot be known
        assert state(edge, "db") == "running" and edge_state(edge, "proxy") == "running"
        assert edge_state(edge, "logs") == "missing"
        found = series(edge)
        assert found[("squaremcp_stack_service_up", edge["name"], "db")] == 1
        assert found[("squaremcp_stack_service_up", edge["edge"], "proxy")] == 1
        # every container of it gone too (once a StackError that stopped the whole run)
        docker("rm", "-f", "%s-proxy-1" % edge["edge"])
        docker("stop", "-t", "1", "%s-db-1" % edge["name"])
        done = run(edge)
        assert done.returncode == 1 and "%s is missing" % edge["compose"] in done.stderr, done.stdout + done.stderr
        assert state(edge, "db") == "running"
    finally:
        moved.rename(edge["compose"])
    done = run(edge)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [edge_state(edge, s) for s in ("proxy", "logs")] == ["running", "running"]

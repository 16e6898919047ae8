# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose projects outside stacks_dir (``compose_files``, e.g. the edge's): collected, planned, restored with their
own compose file and reported like the stacks; one whose file is gone is an error of that project only. Also the
watchdog's validation of the ``compose_files`` key.

A stand-in for docker.APIClient's two read calls and three actions; the real daemon: tests/integration/
test_stack_compose_files.py.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_restore as restore
from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks

ROOT = pathlib.Path(__file__).resolve().parents[2]
EDGE = "name: edge\nservices:\n  proxy: {image: 'traefik:v3', healthcheck: {test: [CMD, ping]}}\n  logs: {image: 'x:1'}\n"
SHOP = "name: shop\nservices:\n  db: {image: 'postgres:16'}\n"


class Docker(object):
    """Containers by ID: {id: (project, service, state)}; records list filters and actions."""

    def __init__(self, containers):
        self.found = dict(containers)
        self.filters, self.acted = [], []

    def containers(self, all=False, filters=None):
        self.filters.append(filters["label"])
        return [{"Id": cid, "Labels": {stacks.PROJECT_LABEL: project, stacks.SERVICE_LABEL: service}}
                for cid, (project, service, _state) in sorted(self.found.items())]

    def inspect_container(self, cid):
        project, service, state = self.found[cid]
        return {"Id": cid, "Name": "/%s-%s-1" % (project, service), "RestartCount": 0,
                "State": {"Status": state, "ExitCode": 0}, "Config": {"Env": [], "Healthcheck": None}}

    def start(self, cid):
        self.acted.append(("start", self.found[cid][:2]))

    def restart(self, cid, timeout=None):
        self.acted.append(("restart", self.found[cid][:2]))

    def unpause(self, cid):
        self.acted.append(("unpause", self.found[cid][:2]))


@pytest.fixture
def host(tmp_path):
    """<tmp>/stacks/shop/compose.yml (a stack) and <tmp>/compose/edge/compose.yml (a project another role owns)."""
    (tmp_path / "stacks" / "shop").mkdir(parents=True)
    (tmp_path / "stacks" / "shop" / "compose.yml").write_text(SHOP)
    (tmp_path / "compose" / "edge").mkdir(parents=True)
    (tmp_path / "compose" / "edge" / "compose.yml").write_text(EDGE)
    (tmp_path / "maintenance").mkdir()
    return tmp_path


def options(host, **extra):
    return restore.Options(**dict(dict(
        projects=["shop"], stacks_dir=str(host / "stacks"), maintenance_dir=str(host / "maintenance"), restore=True,
        timeout=0, lock_file=None, compose_files={"edge": str(host / "compose" / "edge" / "compose.yml")}), **extra))


def run(api, opts, commands):
    return restore.run(api, opts, lambda argv: commands.append(list(argv)) or (0, "", ""), sleep=lambda s: None)


def test_a_compose_files_project_is_collected_beside_the_stacks(host):
    api = Docker({"a": ("shop", "db", "running"), "b": ("edge", "proxy", "exited"), "c": ("other", "x", "exited")})
    report = stacks.collect(api, ["shop"], str(host / "stacks"), str(host / "maintenance"),
                            compose_files={"edge": str(host / "compose" / "edge" / "compose.yml")})
    assert sorted(report.projects) == ["edge", "shop"] and report.errors == {}
    edge = report.projects["edge"]
    assert (edge.compose_file, edge.working_dir) == (str(host / "compose/edge/compose.yml"), str(host / "compose/edge"))
    assert [(s.key, s.state) for s in report.services] == [
        ("edge/logs", "missing"), ("edge/proxy", "exited"), ("shop/db", "running")]
    # every project on the host (projects None) includes it too; a single selected project is listed by its label
    assert "edge" in stacks.collect(api, None, str(host / "stacks"), compose_files={"edge": edge.compose_file}).projects
    alone = stacks.collect(Docker({}), None, None, compose_files={"edge": edge.compose_file})
    assert [(s.key, s.state) for s in alone.services] == [("edge/logs", "missing"), ("edge/proxy", "missing")]
    stacks.collect(api, ["edge"], None, compose_files={"edge": edge.compose_file})
    assert api.filters[-1] == "%s=edge" % stacks.PROJECT_LABEL


def test_its_services_are_started_and_re_created_with_its_own_compose_file(host):
    api, commands = Docker({"a": ("shop", "db", "exited"), "b": ("edge", "proxy", "exited")}), []
    outcome = run(api, options(host), commands)
    assert sorted(api.acted) == [("start", ("edge", "proxy")), ("start", ("shop", "db"))]
    compose = str(host / "compose" / "edge" / "compose.yml")
    assert commands == [["docker", "compose", "--project-name", "edge", "--file", compose, "--project-directory",
                         str(host / "compose" / "edge"), "up", "--detach", "--no-deps", "--no-recreate", "logs"]]
    assert {(a.project, a.service, a.action, a.result) for a in outcome.actions} == {
        ("edge", "logs", "create", "done"), ("edge", "proxy", "start", "done"), ("shop", "db", "start", "done")}


def test_its_maintenance_flag_leaves_it_alone(host):
    (host / "maintenance" / "edge").touch()
    api, commands = Docker({"a": ("shop", "db", "exited"), "b": ("edge", "proxy", "exited")}), []
    outcome = run(api, options(host), commands)
    assert api.acted == [("start", ("shop", "db"))] and commands == []
    assert {a.service: a.result for a in outcome.actions if a.project == "edge"} == {
        "logs": "skipped: maintenance flag set", "proxy": "skipped: maintenance flag set"}
    assert outcome.found.projects["edge"].maintenance is True


def test_a_gone_compose_file_is_an_error_of_that_project_only(host):
    (host / "compose" / "edge" / "compose.yml").unlink()
    # no container left either: once a StackError that stopped every project
    api, commands = Docker({"a": ("shop", "db", "exited")}), []
    outcome = run(api, options(host), commands)
    assert api.acted == [("start", ("shop", "db"))]
    message = outcome.errors["edge"]
    assert str(host / "compose" / "edge" / "compose.yml") + " is missing" in message
    assert "stacks_watchdog_extra_projects" in message and "converge the role that writes it" in message
    # its stopped container is still started; a removed service cannot be known, so nothing is created
    api = Docker({"a": ("shop", "db", "running"), "b": ("edge", "proxy", "exited")})
    outcome = run(api, options(host), commands)
    assert api.acted == [("start", ("edge", "proxy"))] and commands == [] and "edge" in outcome.errors


def test_a_broken_compose_file_is_an_error_and_a_stack_typo_still_fails(host):
    (host / "compose" / "edge" / "compose.yml").write_text("services: [")
    api = Docker({"a": ("shop", "db", "running")})
    report = stacks.collect(api, ["shop"], str(host / "stacks"),
                            compose_files={"edge": str(host / "compose" / "edge" / "compose.yml")})
    assert "cannot be used" in report.errors["edge"] and "is not valid YAML" in report.errors["edge"]
    assert [s.key for s in report.services] == ["shop/db"]
    with pytest.raises(stacks.StackError, match="no container carries the label"):
        stacks.collect(api, ["shop", "typo"], str(host / "stacks"))


def watchdog():
    spec = importlib.util.spec_from_file_location("squaremcp_stack_watchdog",
                                                  ROOT / "roles/stacks/files/squaremcp_stack_watchdog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONFIG = {"projects": ["shop"], "stacks_dir": "/opt/stacks", "maintenance_dir": "/m", "metrics_path": "/x.prom",
          "state_path": "/s.json", "timeout": 10, "lock_file": "/l"}


@pytest.mark.parametrize("compose_files, message", [
    (["/opt/compose/traefik/compose.yml"], "compose_files must be an object"),
    ({"traefik": "compose/traefik/compose.yml"}, "compose_files.traefik must be the absolute path"),
    ({"traefik": 3}, "compose_files.traefik must be the absolute path"),
    ({"../etc": "/opt/compose/x/compose.yml"}, "'../etc' is not a Compose project name"),
])
def test_the_watchdog_refuses_bad_compose_files(tmp_path, compose_files, message):
    path = tmp_path / "watchdog.json"
    path.write_text(json.dumps(dict(CONFIG, compose_files=compose_files)))
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        watchdog().load_config(str(path))


def test_the_watchdog_watches_the_stacks_and_the_compose_files_projects(tmp_path):
    module = watchdog()
    path = tmp_path / "watchdog.json"
    path.write_text(json.dumps(dict(CONFIG, compose_files={"traefik": "/opt/compose/traefik/compose.yml"})))
    assert module.watched(module.load_config(str(path))) == ["shop", "traefik"]
    path.write_text(json.dumps(dict(CONFIG, projects=[])))
    assert module.watched(module.load_config(str(path))) == []

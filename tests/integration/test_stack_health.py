# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.stack_health and the stacks watchdog against the host's real Docker daemon.

One uniquely named Compose project of the stand-in image (squaremcp/stack-app, `make images`) with four
services: db (level 0), cache (level 0, no health check), web (depends on db; its probe prints a secret file),
side (level 0). Faults: db stopped, cache killed, web unhealthy, side removed. The module reports each,
plans in check mode without acting, restores in dependency order, is idempotent, honours the maintenance
flag and never returns the secret. The watchdog (roles/stacks/files, run as the timer runs it) restores and
writes its metrics on every exit path; it restores nothing while a deployment's lease is valid, and a run that
cannot get the lock writes nothing. Everything the tests create is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
IMAGE = "squaremcp/stack-app:current"
TOKEN = "tok-%s-secret" % uuid.uuid4().hex[:8]
PROBE = {"interval": "1s", "timeout": "10s", "retries": 2}
WATCHDOG = ROOT / "roles/stacks/files/squaremcp_stack_watchdog.py"

pytestmark = pytest.mark.slow


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check)


def standin(name, **extra):
    return dict({"image": IMAGE, "init": True, "environment": {"STANDIN_NAME": name}}, **extra)


def compose_file(project):
    probe = ["CMD", "app-standin", "probe", "http://127.0.0.1:3000/health"]
    leaky = ["CMD-SHELL", "cat /run/secrets/token; app-standin probe http://127.0.0.1:3000/health"]
    services = {
        "db": standin("db", healthcheck=dict(PROBE, test=probe)),
        "cache": standin("cache"),
        "side": standin("side", healthcheck=dict(PROBE, test=probe)),
        "web": standin("web", depends_on={"db": {"condition": "service_healthy"}}, secrets=["token"],
                       healthcheck=dict(PROBE, test=leaky))}
    return {"name": project, "services": services, "secrets": {"token": {"file": "./secrets/token"}}}


@contextlib.contextmanager
def compose_project(work, prefix):
    """The four-service project, uniquely named, up and healthy under ``work``/stacks; removed afterwards."""
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail("%s is missing: run make images" % IMAGE)
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    directory = work / "stacks" / name
    (directory / "secrets").mkdir(parents=True)
    (directory / "secrets" / "token").write_text(TOKEN)
    (directory / "compose.yml").write_text(yaml.safe_dump(compose_file(name)))
    (work / "maintenance").mkdir()
    project = {"name": name, "work": work, "stacks": work / "stacks", "maintenance": work / "maintenance",
               "directory": directory}
    try:
        compose_up(project)
        yield project
    finally:
        subprocess.run(["docker", "compose", "--project-directory", str(directory), "down", "--timeout", "1"],
                       capture_output=True, check=False)


def compose_up(project):
    done = subprocess.run(["docker", "compose", "--project-directory", str(project["directory"]), "up", "-d", "--wait"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    with compose_project(tmp_path_factory.mktemp("stack_health"), "sqstk-it") as created:
        yield created


def container(project, service):
    return "%s-%s-1" % (project["name"], service)


def state(project, service):
    found = docker("inspect", "-f", "{{.State.Status}}", container(project, service), check=False)
    return found.stdout.strip() or "missing"


def play(project, tasks, *extra):
    """Run tasks on localhost; (json report, stdout)."""
    path = project["work"] / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump([{"name": "stack_health", "hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_HOME=str(project["work"] / "ansible-home"))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(path), "-v"] + list(extra),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    return {t["task"]["name"]: t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]}, done.stdout + done.stderr


def health(project, name, **options):
    return {"name": name, "squaremcp.infra.stack_health": dict(
        projects=[project["name"]], stacks_dir=str(project["stacks"]), maintenance_dir=str(project["maintenance"]),
        lock_file=str(project["work"] / "lock"), timeout=90, **options), "ignore_errors": True}


def test_faults_are_named_planned_and_restored_in_dependency_order(project):
    docker("stop", "-t", "1", container(project, "db"))
    docker("kill", container(project, "cache"))
    docker("exec", container(project, "web"), "touch", "/tmp/standin-unhealthy")
    docker("rm", "-f", container(project, "side"))
    for _attempt in range(60):
        if docker("inspect", "-f", "{{.State.Health.Status}}", container(project, "web")).stdout.strip() == "unhealthy":
            break
        subprocess.run(["sleep", "1"], check=False)
    results, output = play(project, [
        health(project, "report"),
        dict(health(project, "plan", restore=True), check_mode=True),
        {"name": "typo", "squaremcp.infra.stack_health": {"projects": ["sqstk-no-such-project"],
                                                          "stacks_dir": str(project["stacks"])},
         "ignore_errors": True},
    ], "--diff")
    assert sorted(results) == ["plan", "report", "typo"], output[-3000:]
    report, plan = results["report"], results["plan"]
    found = {p["service"]: p for p in report["problems"]}
    assert sorted(found) == ["cache", "db", "side", "web"], report["summary"]
    assert (found["db"]["state"], found["db"]["exit_code"], found["db"]["action"]) == ("exited", 0, "start")
    assert (found["cache"]["state"], found["cache"]["exit_code"], found["cache"]["health"]) == ("exited", 137, "none")
    assert (found["side"]["state"], found["side"]["action"], found["side"]["container"]) == ("missing", "create", None)
    assert (found["web"]["health"], found["web"]["action"]) == ("unhealthy", "restart")
    assert found["web"]["failing_streak"] >= 2 and "fault injected" in found["web"]["last_probe_output"]
    assert "********" in found["web"]["last_probe_output"]
    assert report["changed"] is False and [a["result"] for a in report["actions"]] == ["planned"] * 4
    assert plan["changed"] is True and "unresolved" not in plan
    assert [(a["service"], a["action"]) for a in plan["actions"]][-1] == ("web", "restart")
    assert [state(project, s) for s in ("db", "cache", "side")] == ["exited", "exited", "missing"], "check mode acted"
    assert "no container carries the label" in results["typo"]["msg"] and results["typo"]["failed"]
    assert TOKEN not in output

    results, output = play(project, [health(project, "restore", restore=True)], "--diff")
    restored = results["restore"]
    assert restored["changed"] and not restored.get("failed"), restored.get("msg")
    assert restored["unresolved"] == [] and all(a["result"] == "done" for a in restored["actions"])
    order = [a["service"] for a in restored["actions"]]
    assert order.index("web") > order.index("db")
    diff = restored["diff"]
    assert "%s/web: running unhealthy" % project["name"] in diff["before"]
    assert "%s/side: running healthy" % project["name"] in diff["after"]
    assert [state(project, s) for s in ("db", "cache", "side", "web")] == ["running"] * 4
    assert TOKEN not in output


def test_a_second_restore_changes_nothing_and_maintenance_is_left_alone(project):
    flag = project["maintenance"] / project["name"]
    results, output = play(project, [
        health(project, "again", restore=True),
        {"name": "stop web under maintenance", "ansible.builtin.shell": "touch %s && docker stop -t 1 %s"
         % (flag, container(project, "web"))},
        health(project, "maintenance", restore=True),
        {"name": "lift", "ansible.builtin.file": {"path": str(flag), "state": "absent"}},
    ])
    assert results["again"]["changed"] is False and results["again"]["actions"] == []
    held = results["maintenance"]
    assert not held.get("failed") and held["changed"] is False
    assert held["actions"] == [{"project": project["name"], "service": "web", "container": container(project, "web"),
                                "action": "start", "result": "skipped: maintenance flag set"}]
    assert held["unresolved"][0]["maintenance"] is True
    assert state(project, "web") == "exited"


def watchdog(project, *extra, **config):
    settings = {"projects": [project["name"]], "stacks_dir": str(project["stacks"]),
                "maintenance_dir": str(project["maintenance"]), "metrics_path": str(project["work"] / "stacks.prom"),
                "state_path": str(project["work"] / "state.json"), "timeout": 90,
                "lock_file": str(project["work"] / "lock")}
    settings.update(config)
    path = project["work"] / "watchdog.json"
    path.write_text(json.dumps(settings))
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".collections"))
    return subprocess.run([sys.executable, str(WATCHDOG), "--config", str(path)] + list(extra),
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def samples(project):
    text = (project["work"] / "stacks.prom").read_text()
    return {(s.name, s.labels.get("service")): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_watchdog_restores_and_writes_metrics_on_every_exit_path(project):
    from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileLock

    # web was left stopped by the previous test; stop db as well
    docker("stop", "-t", "1", container(project, "db"))
    # a deployment's lease (stack_files, role squaremcp.infra.stacks): reported, nothing restored
    lease = project["work"] / "lock.deploying"
    lease.write_text("%d\n" % (time.time() + 600))
    held = watchdog(project)
    lease.unlink()
    assert held.returncode == 1, held.stdout + held.stderr
    assert "start %s/db (%s): skipped: a deployment" % (project["name"], container(project, "db")) in held.stdout
    assert (state(project, "db"), state(project, "web")) == ("exited", "exited")
    # another run holds the lock: this one gives up and writes nothing (neither metrics nor state)
    written = {p: p.read_bytes() for p in (project["work"] / "stacks.prom", project["work"] / "state.json")}
    with FileLock(str(project["work"] / "lock")):
        busy = watchdog(project, lock_timeout=1)
    assert busy.returncode == 2 and "another run holds the lock" in busy.stderr, busy.stderr
    assert {p: p.read_bytes() for p in written} == written

    done = watchdog(project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "start %s/db" % project["name"] in done.stdout
    found = samples(project)
    assert [found[("squaremcp_stack_service_up", s)] for s in ("cache", "db", "side", "web")] == [1.0] * 4
    assert found[("squaremcp_stack_service_restarts_total", "db")] >= 1
    assert found[("squaremcp_stack_service_restarts_total", "web")] >= 1
    last_success = found[("squaremcp_stack_watchdog_last_success_timestamp_seconds", None)]
    assert last_success == found[("squaremcp_stack_watchdog_last_run_timestamp_seconds", None)]
    assert oct(os.stat(project["work"] / "stacks.prom").st_mode & 0o777) == "0o644"

    unreachable = watchdog(project, docker_host="unix:///nonexistent/docker.sock")
    assert unreachable.returncode == 2 and "nonexistent" in unreachable.stderr
    found = samples(project)
    assert ("squaremcp_stack_service_up", "db") not in found
    assert found[("squaremcp_stack_watchdog_last_success_timestamp_seconds", None)] == last_success
    assert found[("squaremcp_stack_watchdog_last_run_timestamp_seconds", None)] > last_success

    (project["work"] / "broken.json").write_text("{")
    metrics = project["work"] / "broken.prom"
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".collections"))
    broken = subprocess.run([sys.executable, str(WATCHDOG), "--config", str(project["work"] / "broken.json"),
                             "--metrics-path", str(metrics)], capture_output=True, text=True, env=env, check=False)
    assert broken.returncode == 2 and "squaremcp_stack_watchdog_last_run_timestamp_seconds" in metrics.read_text()
    invalid = subprocess.run([sys.executable, str(WATCHDOG), "--validate", "--config", str(project["work"] / "broken.json")],
                             capture_output=True, text=True, env=env, check=False)
    assert invalid.returncode == 2

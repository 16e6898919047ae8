# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.compose_pending against the host's real Docker daemon and Compose CLI.

One uniquely named project of the stand-in image (squaremcp/stack-app, `make images`): web (health check, an
env_file, whose label hash Compose 2.26's `config --hash` of the file does not print; the gate hashes the resolved
configuration instead, and the env file's values never reach a result) and side (none; it waits for web's
health). Up and healthy, it has nothing to do; a stopped container, a changed env file, a changed service (Compose's
own config hash differs from the container's label) and an orphan each make it pending, as does a directory Compose
cannot read; check mode reads the same. Everything the test creates is removed afterwards.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import uuid

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
IMAGE = "squaremcp/stack-app:current"
SECRET = "tok-en-s3cret-value"
PROBE = {"test": ["CMD", "app-standin", "probe", "http://127.0.0.1:3000/health"], "interval": "1s", "retries": 2}

pytestmark = pytest.mark.slow


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check)


def write_compose(directory, name, services):
    (directory / "compose.yml").write_text(yaml.safe_dump({"name": name, "services": services}))


def standin(name, **extra):
    return dict({"image": IMAGE, "init": True, "environment": {"STANDIN_NAME": name}}, **extra)


def gate(name, projects, check_mode=False):
    return {"name": name, "squaremcp.infra.compose_pending": {"projects": projects}, "check_mode": check_mode}


def play(work, tasks):
    path = work / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump([{"name": "compose_pending", "hosts": "localhost", "gather_facts": False,
                                     "connection": "local",
                                     "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_HOME=str(work / "ansible-home"))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    return {t["task"]["name"]: t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]}, done.stdout + done.stderr


@pytest.fixture()
def project(tmp_path):
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail("%s is missing: run make images" % IMAGE)
    name = "sqgate-it-%s" % uuid.uuid4().hex[:8]
    directory = tmp_path / name
    directory.mkdir()
    (directory / "web.env").write_text("MODE=one\nTOKEN=%s\n" % SECRET)
    write_compose(directory, name, {"web": standin("web", healthcheck=PROBE, env_file=["web.env"]),
                                    "side": standin("side", depends_on={"web": {"condition": "service_healthy"}})})
    try:
        up = docker("compose", "--project-directory", str(directory), "up", "-d", "--wait", check=False)
        assert up.returncode == 0, up.stderr
        yield {"name": name, "directory": directory, "work": tmp_path}
    finally:
        docker("compose", "--project-directory", str(directory), "down", "--timeout", "1", "--remove-orphans",
               check=False)


def test_only_projects_with_something_to_do_are_pending(project):
    name, directory, work = project["name"], project["directory"], project["work"]
    projects = {name: str(directory)}
    results, output = play(work, [
        gate("healthy", projects),
        {"name": "stop side", "ansible.builtin.command": {"argv": ["docker", "stop", "-t", "1", name + "-side-1"]}},
        gate("stopped", projects),
        gate("stopped in check mode", projects, check_mode=True),
        gate("unreadable", {"sqgate-it-nothing": str(work / "no-such-directory")}),
    ])
    assert not any(r.get("failed") for r in results.values()), output[-3000:]
    assert (results["healthy"]["pending"], results["healthy"]["changed"]) == ([], False), results["healthy"]
    for task in ("stopped", "stopped in check mode"):
        assert results[task]["pending"] == [name], results[task]
        # web's hash is Compose's hash of the resolved configuration: it equals web's label despite the env file.
        assert results[task]["reasons"][name] == ["container %s-side-1 is exited" % name], results[task]
        assert results[task]["changed"] is False
    assert SECRET not in output
    assert results["unreadable"]["pending"] == ["sqgate-it-nothing"]
    assert "cannot read Compose's config hashes" in results["unreadable"]["reasons"]["sqgate-it-nothing"][0]

    # Bring it back, then change web's env file: Compose's dry run would recreate web.
    up = docker("compose", "--project-directory", str(directory), "up", "-d", "--wait", check=False)
    assert up.returncode == 0, up.stderr
    (directory / "web.env").write_text("MODE=two\nTOKEN=%s\n" % SECRET)
    results, output = play(work, [gate("env changed", projects)])
    assert SECRET not in output
    reasons = results["env changed"]["reasons"][name]
    assert reasons[0] == "container %s-web-1 has a config-hash label other than docker compose config --hash prints" % name, output
    assert reasons[1].startswith("docker compose --dry-run up: ") and "Recreate" in reasons[1], reasons

    # Change web and drop side from the file: Compose's hash and the orphan tell.
    write_compose(directory, name, {"web": standin("web-v2", healthcheck=PROBE, env_file=["web.env"])})
    results, output = play(work, [gate("changed", projects)])
    assert sorted(results["changed"]["reasons"][name]) == sorted([
        "container %s-side-1 is an orphan (service side is not in the compose file)" % name,
        "container %s-web-1 has a config-hash label other than docker compose config --hash prints" % name]), output[-3000:]

    # What docker compose up --wait --remove-orphans made of it has nothing left to do.
    up = docker("compose", "--project-directory", str(directory), "up", "-d", "--wait", "--remove-orphans",
                check=False)
    assert up.returncode == 0, up.stderr
    results, output = play(work, [gate("converged", projects)])
    assert results["converged"]["pending"] == [], output[-3000:]

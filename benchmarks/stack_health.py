# -*- coding: utf-8 -*-
"""Figures for squaremcp.infra.stack_health: N containers in S Compose stacks on the host's Docker daemon.

Prints (no pass/fail):
* one stack_health task (one list call + one inspect per container, through ansible-playbook on localhost);
* the same check in-process (_stacks.collect, no Ansible start-up) for the cost of the logic itself;
* the "one task per container" way: community.docker.docker_container_info looped over every container
  (what a playbook without stack_health would do to learn state, health and restart count).

Each way runs --rounds times; the figures are the median wall times. The stacks use the stand-in image
(squaremcp/stack-app, `make images`), projects sqstk-bench-<id>-<n>; everything is removed afterwards.

    .venv/bin/python benchmarks/stack_health.py [--stacks 5] [--per-stack 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / ".collections")]

import docker  # noqa: E402

from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks  # noqa: E402

IMAGE = "squaremcp/stack-app:current"


def compose(name, count):
    # A sleeping container with a trivial health check: what is measured is reading the state, not the probes.
    return {"name": name, "services": {"svc%02d" % index: {
        "image": IMAGE, "init": True, "command": ["sleep", "infinity"],
        "healthcheck": {"test": ["CMD", "true"], "interval": "10s", "timeout": "10s", "retries": 3}}
        for index in range(count)}}


def playbook(work, tasks, tag):
    path = work / ("%s.yml" % tag)
    path.write_text(yaml.safe_dump([{"name": tag, "hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_HOME=str(work / "ansible-home"))
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit("%s failed: %s" % (tag, done.stdout[-2000:] + done.stderr[-2000:]))
    return elapsed, json.loads(done.stdout[done.stdout.index("{"):])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stacks", type=int, default=5)
    parser.add_argument("--per-stack", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prefix = "sqstk-bench-%s" % uuid.uuid4().hex[:6]
    names = ["%s-%d" % (prefix, n) for n in range(args.stacks)]
    total = args.stacks * args.per_stack
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stacks_dir = work / "stacks"
        try:
            started = time.monotonic()
            for name in names:
                (stacks_dir / name).mkdir(parents=True)
                (stacks_dir / name / "compose.yml").write_text(yaml.safe_dump(compose(name, args.per_stack)))
                subprocess.run(["docker", "compose", "--project-directory", str(stacks_dir / name), "up", "-d",
                                "--wait"], check=True, capture_output=True)
            setup = time.monotonic() - started
            print("setup: %d containers in %d stacks up and healthy in %.1fs" % (total, args.stacks, setup))
            containers = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.docker.compose.project"],
                                        capture_output=True, text=True, check=True).stdout.split()
            ours = subprocess.run(["docker", "inspect", "-f", "{{.Name}}"] + containers, capture_output=True, text=True,
                                  check=True).stdout.split()
            ours = [c.lstrip("/") for c in ours if c.lstrip("/").startswith(prefix)]
            assert len(ours) == total, "expected %d containers, found %d" % (total, len(ours))

            module_times, info_times, process_times = [], [], []
            for _round in range(args.rounds):
                elapsed, report = playbook(work, [{"name": "health", "squaremcp.infra.stack_health": {
                    "projects": names, "stacks_dir": str(stacks_dir)}}], "stack_health")
                result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
                assert len(result["services"]) == total, result.get("summary")
                module_times.append(elapsed)
                elapsed, report = playbook(work, [{"name": "info", "community.docker.docker_container_info": {
                    "name": "{{ item }}"}, "loop": ours}], "container_info")
                assert len(report["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]) == total
                info_times.append(elapsed)
                api = docker.APIClient(version="auto")
                started = time.monotonic()
                found = stacks.collect(api, names, str(stacks_dir), None, (docker.errors.NotFound,))
                process_times.append(time.monotonic() - started)
                assert len(found.services) == total
            module, info, process = (statistics.median(t) for t in (module_times, info_times, process_times))
            print("%d containers, %d stacks, median of %d rounds:" % (total, args.stacks, args.rounds))
            print("  stack_health, one task (1 list call + %d inspects)      %6.2fs" % (total, module))
            print("  docker_container_info, one task per container (%d)     %6.2fs  (%.1fx)" % (total, info, info / module))
            print("  _stacks.collect in-process (the logic, no Ansible)      %6.3fs" % process)
            print("  ansible-playbook start-up and task overhead in the one-task figure: ~%.2fs" % (module - process))
        finally:
            for name in names:
                subprocess.run(["docker", "compose", "--project-name", name, "down", "--timeout", "1"],
                               capture_output=True, check=False)


if __name__ == "__main__":
    main()

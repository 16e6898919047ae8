# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures for a converge of site.yml on the lab (prints numbers; no pass/fail).

    .venv/bin/python benchmarks/converge.py [--strategies default pipelining mitogen] [--slowest 10] [--reuse]

For each connection strategy, on a FRESH lab (``tools/demo.sh up``: the lab container recreated and
prepared through ``docker exec``), ``ansible-playbook site.yml -i inventory/lab`` twice over SSH:
the first converge and the no-change re-run (which must report no change). Printed per strategy:
wall time of both runs, the re-run as a share of the first, the number of tasks (task results on the
lab host, skipped included; the share that was skipped), wall seconds per task of the re-run, and
the slowest tasks of the re-run (their own duration, from the json callback).

  default     Ansible's own defaults: no pipelining (each task copies its module over SFTP and runs
              it in a second SSH command), ssh_args "-C -o ControlMaster=auto -o ControlPersist=60s"
  pipelining  the lab's (and production's) settings: inventory/lab/group_vars/managed_hosts/
              connection.yml, pipelining on, one persistent master connection (ControlPersist)
  mitogen     the same inventory with the Mitogen strategy (mitogen_linear, PyPI mitogen), the opt-in
              of `make demo FAST=1`

--reuse: no fresh lab; on the running lab (make demo, or a previous run of this script) one converge with the lab's
settings brings it to the desired state, then each strategy runs the no-change re-run only (no first-converge
figure; minutes instead of a fresh lab per strategy).

Takes the lab's lock (/tmp/squaremcp-demo.lock, as `flock ... make demo` does) and leaves the lab of
the last strategy running (tools/demo.sh destroy removes it). Goals of issue 12, read off the output:
the re-run at most 25 % of the first converge, at most 0.1 s per task under Mitogen.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
LOCK = "/tmp/squaremcp-demo.lock"
INVENTORY = os.path.join(ROOT, "inventory", "lab")
DEFAULT_SSH_ARGS = "-C -o ControlMaster=auto -o ControlPersist=60s"  # ansible-config: ssh_args default


def strategy_settings(name):
    """(environment, extra vars) of a strategy."""
    if name == "default":
        return {}, {"ansible_pipelining": False, "ansible_ssh_args": DEFAULT_SSH_ARGS}
    if name == "pipelining":
        return {}, {}
    if name == "mitogen":
        plugins = subprocess.run([os.path.join(ROOT, "tools", "mitogen.sh")], capture_output=True, text=True,
                                 check=True).stdout.strip()
        return {"ANSIBLE_STRATEGY": "mitogen_linear", "ANSIBLE_STRATEGY_PLUGINS": plugins}, {}
    raise ValueError(name)


def _seconds(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def converge(env, extra_vars, workdir, label):
    """One site.yml run: (wall seconds, [(task, host, seconds, status)], stats)."""
    extra = os.path.join(workdir, "extra-vars.json")
    with open(extra, "w") as handle:
        json.dump(extra_vars, handle)
    environment = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
                       ANSIBLE_VAULT_PASSWORD_FILE=os.path.join(INVENTORY, ".vault-password.test-only"),
                       PATH=BIN + os.pathsep + os.environ["PATH"], **env)
    environment.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", INVENTORY, "site.yml", "-e", "@" + extra],
                          cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    with open(os.path.join(workdir, label + ".json"), "w") as handle:
        handle.write(proc.stdout)
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        sys.exit("%s: no json report (rc %d): %s" % (label, proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    if proc.returncode:
        sys.exit("%s failed (rc %d), report in %s" % (label, proc.returncode, workdir))
    tasks = []
    for play in report["plays"]:
        for task in play["tasks"]:
            duration = task["task"]["duration"]
            seconds = _seconds(duration["end"]) - _seconds(duration["start"]) if "end" in duration else 0.0
            for host, result in task["hosts"].items():
                status = "skipped" if result.get("skipped") else "changed" if result.get("changed") else "ok"
                tasks.append((task["task"]["name"], host, seconds, status))
    return wall, tasks, report["stats"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=["default", "pipelining", "mitogen"],
                        choices=["default", "pipelining", "mitogen"])
    parser.add_argument("--slowest", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="the running lab: no-change re-runs only")
    args = parser.parse_args()
    lock = open(LOCK, "a")  # pylint: disable=consider-using-with
    fcntl.flock(lock, fcntl.LOCK_EX)
    figures = collections.OrderedDict()
    workdir = tempfile.mkdtemp(prefix="squaremcp-converge-")
    if args.reuse:
        print("[converge] the running lab: one converge to the desired state", file=sys.stderr, flush=True)
        prime = converge({}, {}, workdir, "prime")
    for name in args.strategies:
        env, extra_vars = strategy_settings(name)
        if not args.reuse:
            print("[converge] %s: fresh lab (tools/demo.sh up)" % name, file=sys.stderr, flush=True)
            subprocess.run([os.path.join(ROOT, "tools", "demo.sh"), "up"], cwd=ROOT, check=True,
                           env=dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"]))
        load = os.getloadavg()[0]
        runs = [prime] if args.reuse else []
        for index in ((2,) if args.reuse else (1, 2)):
            print("[converge] %s: site.yml run %d" % (name, index), file=sys.stderr, flush=True)
            runs.append(converge(env, extra_vars, workdir, "%s-%d" % (name, index)))
        changed = sum(stats.get("changed", 0) for stats in runs[1][2].values())
        figures[name] = (runs, changed, load)

    print("site.yml on the lab (inventory/lab, one host, over SSH); reports in %s" % workdir)
    if args.reuse:
        print("--reuse: 'first s' is one converge of the running lab with the lab's settings, not a fresh first converge")
    header = ("strategy", "first s", "re-run s", "re-run", "tasks", "skipped", "s/task", "load 1m")
    print("%-11s %9s %9s %7s %6s %8s %9s %8s" % header)
    for name, (runs, changed, load) in figures.items():
        (first, _tasks, _stats), (second, tasks, _stats2) = runs
        skipped = sum(1 for task in tasks if task[3] == "skipped")
        print("%-11s %9.1f %9.1f %6.0f%% %6d %8d %9.3f %8.1f%s" % (
            name, first, second, 100.0 * second / first, len(tasks), skipped, second / len(tasks), load,
            "" if not changed else "   (re-run CHANGED %d tasks)" % changed))
    for name, (runs, _changed, _load) in figures.items():
        tasks = runs[1][1]
        print("%s: the %d slowest tasks of the no-change re-run (own duration)" % (name, args.slowest))
        for task, _host, seconds, status in sorted(tasks, key=lambda t: -t[2])[:args.slowest]:
            print("  %6.2f s  %-7s %s" % (seconds, status, task))


if __name__ == "__main__":
    main()

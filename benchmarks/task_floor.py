# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one no-change task costs, by kind (prints numbers; no pass/fail).

    .venv/bin/python benchmarks/task_floor.py [--tasks 20] [--repeat 3] [--mitogen]

Plays of N identical tasks against localhost (connection local, so no SSH: the floor Ansible itself
puts under every task), each run once to put the files in place and then timed on a run that
changes nothing. Printed per kind: seconds per task (the wall time of the timed run minus that of
a one-task play of the same kind, over N - 1; the median of --repeat runs).

  debug                 a task that runs nothing on the host (controller templating only)
  ping                  one module run
  template              ansible.builtin.template of one file (a stat and a file module run)
  install_files         squaremcp.infra.install_files of one file (one module run)
  template x4 (loop)    a loop of ansible.builtin.template over four files
  install_files x4      squaremcp.infra.install_files of the same four files
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
UNITS = ["a.service", "a.timer", "b.service", "b.timer"]


def task(kind, work, index):
    """One task of ``kind`` writing under ``work``/out<index>."""
    out = os.path.join(work, "out%d" % index)
    if kind == "debug":
        return {"ansible.builtin.debug": {"msg": "{{ inventory_hostname }}"}}
    if kind == "ping":
        return {"ansible.builtin.ping": {}}
    if kind == "template":
        return {"ansible.builtin.template": {"src": "unit.j2", "dest": out + "-a.service", "mode": "0644"},
                "vars": {"what": "a.service"}}
    if kind == "install_files":
        return {"squaremcp.infra.install_files": {"mode": "0644", "files": [
            {"dest": out + "-a.service", "content": "{{ lookup('ansible.builtin.template', 'unit.j2', "
                                                    "template_vars={'what': 'a.service'}) }}"}]}}
    if kind == "template x4 (loop)":
        return {"ansible.builtin.template": {"src": "unit.j2", "dest": out + "-{{ item }}", "mode": "0644"},
                "loop": UNITS, "vars": {"what": "{{ item }}"}}
    if kind == "install_files x4":
        return {"squaremcp.infra.install_files": {"mode": "0644", "files": [
            {"dest": "%s-%s" % (out, unit), "content": "{{ lookup('ansible.builtin.template', 'unit.j2', "
                                                       "template_vars={'what': '%s'}) }}" % unit} for unit in UNITS]}}
    raise ValueError(kind)


def play(work, kind, count, env):
    path = os.path.join(work, "play.yml")
    with open(path, "w") as handle:
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                         "vars": {"ansible_python_interpreter": sys.executable},
                         "tasks": [dict(task(kind, work, index), name="t%d" % index) for index in range(count)]}],
                       handle)
    start = time.perf_counter()
    subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", path], cwd=work, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mitogen", action="store_true", help="run the plays under the Mitogen strategy")
    args = parser.parse_args()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false",
               PATH=BIN + os.pathsep + os.environ["PATH"])
    if args.mitogen:
        plugins = subprocess.run([os.path.join(ROOT, "tools", "mitogen.sh")], capture_output=True, text=True,
                                 check=True).stdout.strip()
        env.update(ANSIBLE_STRATEGY="mitogen_linear", ANSIBLE_STRATEGY_PLUGINS=plugins)
    kinds = ["debug", "ping", "template", "install_files", "template x4 (loop)", "install_files x4"]
    print("%d tasks per play against localhost (connection local%s), median of %d no-change runs, load %.1f"
          % (args.tasks, ", Mitogen" if args.mitogen else "", args.repeat, os.getloadavg()[0]))
    print("%-22s %10s" % ("kind", "s/task"))
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="task-floor-") as work:
            os.mkdir(os.path.join(work, "templates"))
            with open(os.path.join(work, "templates", "unit.j2"), "w") as handle:
                handle.write("# {{ ansible_managed }}\n[Unit]\nDescription={{ what }} on {{ inventory_hostname }}\n")
            play(work, kind, args.tasks, env)  # puts the files in place
            one = statistics.median([play(work, kind, 1, env) for _run in range(args.repeat)])
            many = statistics.median([play(work, kind, args.tasks, env) for _run in range(args.repeat)])
        print("%-22s %10.3f" % (kind, (many - one) / (args.tasks - 1)))


if __name__ == "__main__":
    main()

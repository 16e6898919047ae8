# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures for squaremcp.infra.traefik_routes on a large route file (prints numbers; no pass/fail).

    .venv/bin/python benchmarks/traefik_routes.py [--routers 5000] [--baseline 20 60] [--no-baseline] [--repeat 1]
                                                  [--routes-from extra-vars|lookup|group-vars|group-vars-yaml|vars-files]

Through ansible-playbook on localhost (local connection, pipelining), one module call managing
--routers routers (+ one service each) in one file:
  * first write, an unchanged run, a one-route change: wall time of ansible-playbook and the
    module task's own duration (json callback), bytes written into the dynamic directory (files
    whose inode, mtime or size changed);
and the alternative of one template task per route (a file per route), measured at the two
--baseline sizes. Only the loop task's own duration is extrapolated (per route: the slope between the
two sizes and the ratio at the larger one, printed as a range) to --routers, so ansible-playbook start-up is never multiplied; it is compared with the
module task's duration, and labelled as an extrapolation. Also the module's own work (merge +
validate + render) in-process, without Ansible. --repeat N runs the one-route change N times (the route
flips back and forth; each run changes one route) and prints every task time and their median, since a
shared machine makes single figures noisy; each run also reports the CPU seconds of the whole ansible-playbook
run, and a ping task in the same play with the same extra vars gives what Ansible costs around the task, so
"CPU minus the ping run's CPU" is the task's own CPU, which a loaded machine does not inflate like wall time.
--no-baseline skips the template-per-route runs; --routes-from says where the play gets the routes: extra vars (the
default), the task reading them itself (lookup('file') | from_json of a JSON file), group_vars/all (JSON or YAML) of
an inventory directory, the play's vars_files, or routes_file (one JSON file the module's action plugin reads on the
controller); the ping run gets them the same way (routes-file: as extra vars, which its ping does not use).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, ".collections")]

from ansible_collections.squaremcp.infra.plugins.module_utils import _traefik_config as traefik  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.squaremcp.infra.plugins.module_utils._traefik_references import validate  # noqa: E402  pylint: disable=wrong-import-position

MODULE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - squaremcp.infra.traefik_routes:
        path: "{{ dynamic }}/routes.yml"
        routers: "{{ routers }}"
        services: "{{ services }}"
        prune: true
"""
# The routes read by the task itself from JSON files next to the play (extra vars still loaded, not used).
LOOKUP_PLAY = MODULE_PLAY.replace(
    '"{{ routers }}"', "\"{{ lookup('ansible.builtin.file', 'routers.json') | from_json }}\"").replace(
    '"{{ services }}"', "\"{{ lookup('ansible.builtin.file', 'services.json') | from_json }}\"")
# The routes read by the action plugin from one JSON file beside the play (extra vars still loaded, not used).
ROUTES_FILE_PLAY = MODULE_PLAY.replace(
    '        routers: "{{ routers }}"\n        services: "{{ services }}"\n', "        routes_file: routes.json\n")
ROUTE_SOURCES = ["extra-vars", "lookup", "group-vars", "group-vars-yaml", "vars-files", "routes-file"]
ROUTES_FROM = "extra-vars"
# The same play and extra vars with a task that ignores them: what ansible-playbook costs around the task.
PING_PLAY = MODULE_PLAY.split("  tasks:", maxsplit=1)[0] + "  tasks:\n    - ansible.builtin.ping:\n"
TEMPLATE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - ansible.builtin.template:
        src: route.yml.j2
        dest: "{{ dynamic }}/{{ item.key }}.yml"
        mode: "0644"
      loop: "{{ routers | dict2items }}"
      loop_control:
        label: "{{ item.key }}"
"""
TEMPLATE = """http:
  routers:
    {{ item.key }}:
      rule: "{{ item.value.rule }}"
      entryPoints: [websecure]
      service: {{ item.key }}
      tls: {certResolver: letsencrypt}
  services:
    {{ item.key }}:
      loadBalancer:
        servers:
          - url: "{{ services[item.key].loadBalancer.servers[0].url }}"
"""


def routes(count, changed=None):
    routers, services = {}, {}
    for index in range(count):
        name = "site-%05d" % index
        host = "app%05d.example.com" % index
        rule = "Host(`%s`) && PathPrefix(`/`)" % host
        if name == changed:
            rule = "Host(`%s`) && PathPrefix(`/v2`)" % host
        routers[name] = {"rule": rule, "entryPoints": ["websecure"], "service": name,
                         "tls": {"certResolver": "letsencrypt"}}
        services[name] = {"loadBalancer": {"servers": [{"url": "http://backend-%05d:8080" % index}]}}
    return routers, services


def state(directory):
    found = {}
    for name in os.listdir(directory):
        st = os.stat(os.path.join(directory, name))
        found[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def bytes_written(before, after):
    return sum(after[name][2] for name in after if before.get(name) != after[name])


def _seconds(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def run(workdir, play, dynamic, routers, services):
    """One ansible-playbook run; returns (wall seconds, seconds of its one task, bytes written, CPU seconds of the
    ansible-playbook process and its children, start-up included: less sensitive to a loaded machine than wall)."""
    vars_file = os.path.join(workdir, "vars.json")
    routes = {"routers": routers, "services": services}
    with open(vars_file, "w") as handle:
        json.dump(dict(routes, dynamic=dynamic) if ROUTES_FROM in ("extra-vars", "lookup", "routes-file")
                  else {"dynamic": dynamic},
                  handle)
    for name, doc in dict(routes, routes=routes).items():
        with open(os.path.join(workdir, name + ".json"), "w") as handle:
            json.dump(doc, handle)
    inventory = "localhost,"
    if ROUTES_FROM.startswith("group-vars"):
        group_vars = os.path.join(workdir, "inventory", "group_vars", "all")
        os.makedirs(group_vars, exist_ok=True)
        for name in os.listdir(group_vars):
            os.remove(os.path.join(group_vars, name))
        inventory = os.path.join(workdir, "inventory", "hosts")
        with open(inventory, "w") as handle:
            handle.write("localhost\n")
        with open(os.path.join(group_vars, "routes.yml" if ROUTES_FROM == "group-vars-yaml" else "routes.json"),
                  "w") as handle:
            if ROUTES_FROM == "group-vars-yaml":
                yaml.dump(routes, handle, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
            else:
                json.dump(routes, handle)
    if ROUTES_FROM == "vars-files":
        play = play.replace("  tasks:", "  vars_files: [routes.json]\n  tasks:", 1)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_PIPELINING="true",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_HOME=os.path.join(workdir, "ansible-home"))
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    playbook = os.path.join(workdir, "play.yml")
    with open(playbook, "w") as handle:
        handle.write(play)
    before = state(dynamic)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                           playbook, "-e", "@" + vars_file], cwd=workdir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    if proc.returncode:
        sys.exit((proc.stdout + proc.stderr)[-3000:])
    (task,) = json.loads(proc.stdout)["plays"][0]["tasks"]
    duration = task["task"]["duration"]
    return (elapsed, _seconds(duration["end"]) - _seconds(duration["start"]), bytes_written(before, state(dynamic)),
            cpu_seconds)


def per_route_baseline(workdir, count):
    """Template-per-route runs at ``count`` routes: {label: (wall, loop task seconds, bytes)}."""
    base_dir = os.path.join(workdir, "per-route-%d" % count)
    os.makedirs(base_dir)
    small_routers, small_services = routes(count)
    small_changed, _unused = routes(count, changed="site-%05d" % (count // 2))
    return {"first write": run(workdir, TEMPLATE_PLAY, base_dir, small_routers, small_services),
            "unchanged run": run(workdir, TEMPLATE_PLAY, base_dir, small_routers, small_services),
            "one-route change": run(workdir, TEMPLATE_PLAY, base_dir, small_changed, small_services)}


ROW = "  %-20s %8.2f s wall  %8.2f s task  %10d bytes written  %6.2f s CPU (whole ansible-playbook run)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=5000)
    parser.add_argument("--baseline", type=int, nargs=2, default=[20, 60], metavar=("SMALL", "LARGER"),
                        help="route counts measured for the template-per-route baseline")
    parser.add_argument("--no-baseline", action="store_true", help="skip the template-per-route runs")
    parser.add_argument("--repeat", type=int, default=1, help="one-route changes to run (median printed)")
    parser.add_argument("--routes-from", choices=ROUTE_SOURCES, default="extra-vars",
                        help="how the task gets the routes: extra vars (-e @file.json), lookup('file') | from_json of "
                             "a JSON file per option, group_vars/all as JSON or YAML, the play's vars_files, or the "
                             "module's routes_file (one JSON file the action plugin reads)")
    args = parser.parse_args()
    global ROUTES_FROM  # pylint: disable=global-statement
    ROUTES_FROM = args.routes_from
    n = args.routers
    target = "site-%05d" % (n // 2)
    routers, services = routes(n)
    changed_routers, _services = routes(n, changed=target)

    start = time.perf_counter()
    doc, _changes = traefik.merge({}, {"routers": routers, "services": services}, prune=True)
    problems = validate(doc)
    text = traefik.render(doc)
    in_process = time.perf_counter() - start
    assert not problems, problems[:3]

    with tempfile.TemporaryDirectory() as workdir:
        dynamic = os.path.join(workdir, "dynamic")
        os.makedirs(dynamic)
        with open(os.path.join(workdir, "route.yml.j2"), "w") as handle:
            handle.write(TEMPLATE)
        play = {"lookup": LOOKUP_PLAY, "routes-file": ROUTES_FILE_PLAY}.get(args.routes_from, MODULE_PLAY)
        module = {"first write": run(workdir, play, dynamic, routers, services),
                  "unchanged run": run(workdir, play, dynamic, routers, services),
                  "one-route change": run(workdir, play, dynamic, changed_routers, services)}
        changes = [module["one-route change"]]
        pings = [run(workdir, PING_PLAY, dynamic, routers, services)]
        for index in range(1, args.repeat):
            changes.append(run(workdir, play, dynamic, routers if index % 2 else changed_routers, services))
            pings.append(run(workdir, PING_PLAY, dynamic, routers, services))
        baseline = {} if args.no_baseline else {count: per_route_baseline(workdir, count) for count in args.baseline}

    print("load average before the runs: %.1f %.1f %.1f (2 shared cores)" % os.getloadavg())
    print("traefik_routes, %d routers + %d services in one file (%.0f KiB), ansible-playbook on localhost, routes from %s"
          % (n, n, len(text) / 1024.0, args.routes_from))
    print("  in-process merge + validate + render: %.2f s" % in_process)
    for label, figures in module.items():
        print(ROW % ((label + ":",) + figures))
    print("  one-route change x%d: task %s s, median %.2f s" % (
        len(changes), " ".join("%.2f" % figures[1] for figures in changes), statistics.median(r[1] for r in changes)))
    print("  ping task, same play and variables (x%d): median %.2f s task, %.2f s CPU" % (
        len(pings), statistics.median(r[1] for r in pings), statistics.median(r[3] for r in pings)))
    print("  one-route change CPU minus the ping run's CPU (the task's own CPU, load-independent): median %.2f s" % (
        statistics.median(r[3] for r in changes) - statistics.median(r[3] for r in pings)))
    if not baseline:
        return
    print("one template task per route (a file per route), MEASURED:")
    for count, runs in baseline.items():
        for label, figures in runs.items():
            print("  %3d routes, %-17s %7.2f s wall  %8.2f s task  %10d bytes written  (%.3f s task per route)"
                  % ((count, label + ":") + figures[:3] + (figures[1] / count,)))
    small, larger = sorted(args.baseline)
    print("EXTRAPOLATED (not measured) to %d routes from the template loop task's own duration only (ansible-playbook "
          "start-up NOT included), per route = slope between %d and %d routes .. task time / %d at %d routes:"
          % (n, small, larger, larger, larger))
    for label in ("unchanged run", "one-route change"):
        slope = (baseline[larger][label][1] - baseline[small][label][1]) / float(larger - small)
        ratio = baseline[larger][label][1] / larger
        low, high = sorted((slope * n, ratio * n))
        print("  %-20s template loop task ~%.0f .. %.0f s (%.1f .. %.1f min)   vs traefik_routes task %.2f s (measured)"
              % (label + ":", low, high, low / 60, high / 60, module[label][1]))


if __name__ == "__main__":
    main()

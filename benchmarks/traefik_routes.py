# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures for squaremcp.infra.traefik_routes on a large route file (prints numbers; no pass/fail).

    .venv/bin/python benchmarks/traefik_routes.py [--routers 5000] [--baseline 50]

Through ansible-playbook on localhost (local connection, pipelining), one module call managing
--routers routers (+ one service each) in one file:
  * first write, an unchanged run, a one-route change;
  * bytes written into the dynamic directory by each run (files whose inode, mtime or size changed);
and the alternative of one template task per route (a file per route), measured with --baseline
routes and extrapolated linearly to --routers (labelled as such). Also the module's own work
(validate + render) in-process, without Ansible.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, ".collections")]

from ansible_collections.squaremcp.infra.plugins.module_utils import traefik  # noqa: E402  pylint: disable=wrong-import-position

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


def run(workdir, play, dynamic, routers, services):
    vars_file = os.path.join(workdir, "vars.json")
    with open(vars_file, "w") as handle:
        json.dump({"dynamic": dynamic, "routers": routers, "services": services}, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_PIPELINING="true",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0")
    playbook = os.path.join(workdir, "play.yml")
    with open(playbook, "w") as handle:
        handle.write(play)
    before = state(dynamic)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           playbook, "-e", "@" + vars_file], cwd=workdir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stdout[-3000:])
    return elapsed, bytes_written(before, state(dynamic))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=5000)
    parser.add_argument("--baseline", type=int, default=50, help="routes for the template-per-route baseline")
    args = parser.parse_args()
    n, b = args.routers, args.baseline
    target = "site-%05d" % (n // 2)
    routers, services = routes(n)
    changed_routers, _services = routes(n, changed=target)

    start = time.perf_counter()
    doc, _changes = traefik.merge({}, {"routers": routers, "services": services}, prune=True)
    problems = traefik.validate(doc)
    text = traefik.render(doc)
    in_process = time.perf_counter() - start
    assert not problems, problems[:3]

    with tempfile.TemporaryDirectory() as workdir:
        dynamic = os.path.join(workdir, "dynamic")
        os.makedirs(dynamic)
        first = run(workdir, MODULE_PLAY, dynamic, routers, services)
        unchanged = run(workdir, MODULE_PLAY, dynamic, routers, services)
        one = run(workdir, MODULE_PLAY, dynamic, changed_routers, services)

        base_dir = os.path.join(workdir, "per-route")
        os.makedirs(base_dir)
        with open(os.path.join(workdir, "route.yml.j2"), "w") as handle:
            handle.write(TEMPLATE)
        small_routers, small_services = routes(b)
        small_changed, _unused = routes(b, changed="site-%05d" % (b // 2))
        t_first = run(workdir, TEMPLATE_PLAY, base_dir, small_routers, small_services)
        t_unchanged = run(workdir, TEMPLATE_PLAY, base_dir, small_routers, small_services)
        t_one = run(workdir, TEMPLATE_PLAY, base_dir, small_changed, small_services)

    scale = n / float(b)
    print("traefik_routes, %d routers + %d services in one file (%.0f KiB), ansible-playbook on localhost" % (
        n, n, len(text) / 1024.0))
    print("  in-process merge + validate + render:          %7.2f s" % in_process)
    for label, (seconds, written) in (("first write", first), ("unchanged run", unchanged),
                                      ("one-route change", one)):
        print("  %-46s %7.2f s   %9d bytes written" % (label + ":", seconds, written))
    print("one template task per route (a file per route), measured with %d routes:" % b)
    for label, (seconds, written) in (("first write", t_first), ("unchanged run", t_unchanged),
                                      ("one-route change", t_one)):
        print("  %-46s %7.2f s   %9d bytes written" % (label + ":", seconds, written))
    print("  EXTRAPOLATED to %d routes (x%.0f, linear):" % (n, scale))
    for label, (seconds, _written) in (("unchanged run", t_unchanged), ("one-route change", t_one)):
        print("  %-46s %7.0f s" % (label + " (extrapolated):", seconds * scale))


if __name__ == "__main__":
    main()

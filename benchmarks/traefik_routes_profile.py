# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a one-route change of squaremcp.infra.traefik_routes with many routers spends its time.

    .venv/bin/python benchmarks/traefik_routes_profile.py [--routers 5000] [--top 0]

The same play as benchmarks/traefik_routes.py (ansible-playbook on localhost, local connection,
pipelining, the routes passed as extra vars): a first write, then the one-route change profiled in
the three processes that take part, each with cProfile:
  * the controller's main process (variables for the task, result handling, callbacks),
  * the worker process Ansible forks for the task (templating the arguments, building the module
    payload, running it, reading its answer) - profiled through a sitecustomize that wraps
    WorkerProcess._run, only for this script's runs,
  * the module itself: the interpreter is a wrapper that runs the pipelined AnsiballZ payload under
    cProfile (argument parsing, reading the current file and the directory, merge, validate, render,
    write, exit_json).
Prints the task's own duration (json callback), the sizes of what travels (module payload, answer)
and, per process, the cumulative seconds of the functions that make up the phases; --top N also
prints each process's N most expensive functions. Figures, no pass/fail; profiling adds overhead,
so compare phases with each other, not with unprofiled runs.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import traefik_routes as bench  # noqa: E402  pylint: disable=wrong-import-position

SITECUSTOMIZE = r'''
import cProfile, os
target = os.environ.get("SQUAREMCP_PROFILE_WORKER")
if target:
    from ansible.executor.process import worker as _worker
    _run = _worker.WorkerProcess._run
    def _profiled(self):
        profile = cProfile.Profile()
        try:
            return profile.runcall(_run, self)
        finally:
            profile.dump_stats("%s.%d" % (target, os.getpid()))
    _worker.WorkerProcess._run = _profiled
'''
INTERPRETER = r'''#!%(python)s
# Runs the pipelined AnsiballZ payload (stdin) under cProfile, then dumps the statistics.
import cProfile, os, sys, time
source = sys.stdin.read()
with open(os.environ["SQUAREMCP_PROFILE_MODULE"] + ".size", "w") as handle:
    handle.write(str(len(source)))
profile = cProfile.Profile()
scope = {"__name__": "__main__", "__file__": "<ansiballz>"}
start = time.perf_counter()
try:
    profile.runctx(compile(source, "<ansiballz>", "exec"), scope, scope)
except SystemExit:
    pass
finally:
    profile.dump_stats(os.environ["SQUAREMCP_PROFILE_MODULE"])
    with open(os.environ["SQUAREMCP_PROFILE_MODULE"] + ".wall", "w") as handle:
        handle.write(repr(time.perf_counter() - start))
'''

# (phase, process, function key as "file-suffix:function") - cumulative seconds of each.
PHASES = [
    ("main: variables for the task (get_vars incl. the extra vars)", "main", "vars/manager.py:get_vars"),
    ("main: handle the result (strategy)", "main", "strategy/__init__.py:_process_pending_results"),
    ("main: stdout callback on the result", "main", "callback/json.py:v2_runner_on_ok"),
    ("worker: whole task (TaskExecutor.run)", "worker", "executor/task_executor.py:run"),
    ("worker: template the task's arguments", "worker", "playbook/task.py:post_validate"),
    ("worker: action plugin (module payload, run, answer)", "worker", "action/normal.py:run"),
    ("worker: build the module payload (AnsiballZ + JSON args)", "worker", "action/__init__.py:_configure_module"),
    ("worker: run the module (pipe in, wait, read out)", "worker", "connection/local.py:exec_command"),
    ("worker: parse the module's answer", "worker", "action/__init__.py:_parse_returned_data"),
    ("worker: send the result to the main process", "worker", "executor/process/worker.py:send_task_result"),
    ("module: whole run (AnsiballZ wrapper)", "module", "<ansiballz>:<module>"),
    ("module: AnsibleModule() - parse and check arguments", "module", "module_utils/basic.py:__init__"),
    ("module: read + parse the current routes.yml", "module", "modules/traefik_routes.py:_load_current"),
    ("module:   of which: scan for hand-written comments", "module", "module_utils/_traefik_config.py:foreign_comments"),
    ("module: merge", "module", "module_utils/_traefik_config.py:merge"),
    ("module: read + parse the rest of the directory", "module", "module_utils/_traefik_config.py:load_directory"),
    ("module: validate (rules, references, duplicates, dependents)", "module",
     "module_utils/_traefik_references.py:validate"),
    ("module: render YAML", "module", "module_utils/_traefik_config.py:render"),
    ("module: write atomically", "module", "module_utils/_files.py:write_file"),
    ("module: exit_json (no_log scrub + JSON of the answer)", "module", "module_utils/basic.py:exit_json"),
]


def cumulative(stats, key):
    suffix, function = key.rsplit(":", 1)
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if name == function and filename.endswith(suffix):
            total = max(total, ct)
    return total


def load(paths):
    paths = [p for p in paths if os.path.exists(p)]
    return pstats.Stats(*paths) if paths else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=5000)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    routers, services = bench.routes(args.routers)
    changed, _services = bench.routes(args.routers, changed="site-%05d" % (args.routers // 2))
    with tempfile.TemporaryDirectory() as work:
        dynamic = os.path.join(work, "dynamic")
        os.makedirs(dynamic)
        site = os.path.join(work, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w") as handle:
            handle.write(SITECUSTOMIZE)
        interpreter = os.path.join(work, "python-profiled")
        with open(interpreter, "w") as handle:
            handle.write(INTERPRETER % {"python": sys.executable})
        os.chmod(interpreter, 0o755)
        playbook = os.path.join(work, "play.yml")
        with open(playbook, "w") as handle:
            # benchmarks/traefik_routes.py's play, with the profiling interpreter
            handle.write(bench.MODULE_PLAY.replace('"{{ ansible_playbook_python }}"', '"%s"' % interpreter))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_PIPELINING="true",
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=os.path.join(work, "tmp"), ANSIBLE_RETRY_FILES_ENABLED="0",
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_HOME=os.path.join(work, "home"),
                   PYTHONPATH=site, SQUAREMCP_PROFILE_MODULE=os.path.join(work, "module.prof"))
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)

        def playbook_run(doc, profiled):
            vars_file = os.path.join(work, "vars.json")
            with open(vars_file, "w") as handle:
                json.dump({"dynamic": dynamic, "routers": doc, "services": services}, handle)
            command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                       playbook, "-e", "@" + vars_file]
            run_env = dict(env)
            if profiled:
                run_env["SQUAREMCP_PROFILE_WORKER"] = os.path.join(work, "worker.prof")
                command = [sys.executable, "-m", "cProfile", "-o", os.path.join(work, "main.prof")] + command
            proc = subprocess.run(command, cwd=work, env=run_env, capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit((proc.stdout + proc.stderr)[-3000:])
            report = json.loads(proc.stdout[proc.stdout.index("{"):])
            (task,) = report["plays"][0]["tasks"]
            stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
            duration = task["task"]["duration"]
            seconds = (datetime.datetime.strptime(duration["end"], stamp)
                       - datetime.datetime.strptime(duration["start"], stamp)).total_seconds()
            return seconds, len(json.dumps(task["hosts"]["localhost"])), os.path.getsize(vars_file)

        playbook_run(routers, False)
        task_seconds, answer_size, vars_size = playbook_run(changed, True)
        with open(os.path.join(work, "module.prof.wall")) as handle:
            module_wall = float(handle.read())
        with open(os.path.join(work, "module.prof.size")) as handle:
            payload_size = int(handle.read())
        stats = {"main": load([os.path.join(work, "main.prof")]),
                 "worker": load([os.path.join(work, name) for name in os.listdir(work) if name.startswith("worker.prof.")]),
                 "module": load([os.path.join(work, "module.prof")])}

        print("load average: %.1f %.1f %.1f (2 shared cores)" % os.getloadavg())
        print("traefik_routes, one-route change of %d routers + %d services, profiled (cProfile adds overhead)"
              % (args.routers, args.routers))
        print("  task duration (json callback):         %7.2f s" % task_seconds)
        print("  module wall time (inside the wrapper):  %7.2f s" % module_wall)
        print("  extra vars file %.0f KiB, pipelined module payload %.0f KiB, module answer as the callback keeps it %.0f KiB"
              % (vars_size / 1024.0, payload_size / 1024.0, answer_size / 1024.0))
        for phase, process, key in PHASES:
            if stats[process] is not None:
                print("  %-62s %7.2f s" % (phase, cumulative(stats[process], key)))
        if args.top:
            for process, data in stats.items():
                if data is None:
                    continue
                out = io.StringIO()
                data.stream = out
                data.sort_stats("cumulative").print_stats(args.top)
                print("--- %s: top %d by cumulative time" % (process, args.top))
                print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()

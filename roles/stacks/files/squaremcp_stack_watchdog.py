# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check every Compose stack, restore what is down, write textfile metrics (the stacks watchdog's service).

The role squaremcp.infra.stacks installs this file beside a copy of the collection's module_utils
(_stacks.py, _stack_restore.py, _stack_metrics.py, _files.py) under ``lib/ansible_collections/squaremcp/infra/
plugins/module_utils/``: the check and the restore are the code squaremcp.infra.stack_health runs.

Configuration: a JSON file with ``projects``, ``stacks_dir``, ``maintenance_dir``, ``metrics_path``,
``state_path``, ``timeout`` and ``lock_file``; optional ``compose_files`` ({project: absolute path of its compose
file}) adds Compose projects that live outside ``stacks_dir`` (the edge's, written by another role), watched and
restored like the stacks. A project whose ``<maintenance_dir>/<project>`` file exists is reported (and its
``squaremcp_stack_maintenance`` is 1) but never restored. A ``compose_files`` project whose file is gone is
reported (exit 1; its stopped containers are still started) while every other project is restored as usual.

A run holds ``lock_file`` from start to end (the lock stack_health's restore and the role's deployment take):
the state file is read and written by one run at a time, and while a deployment's lease
(``<lock_file>.deploying``) is valid nothing is restored.

Exit codes: 0 every service outside maintenance is up and healthy (after restoring what was not);
1 something is still down or unhealthy; 2 the run could not start (configuration, Docker unreachable,
lock). Every run except ``--validate`` writes the metrics: once with the state found, again at the end
(a run that cannot get the lock writes nothing: the run holding it does).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

# pylint: disable=wrong-import-position
from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_metrics as metrics  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils import _stack_restore as restore  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils._files import (  # noqa: E402
    FileError, FileLock, ProcessFileOps, read_bytes, write_files)

KEYS = {"projects": list, "stacks_dir": str, "maintenance_dir": str, "metrics_path": str, "state_path": str,
        "timeout": int, "lock_file": str}
PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # what Compose accepts as a project name
LOCK_WAIT = 60  # seconds (optional key lock_timeout); a restore by hand can hold the lock longer: the next run tries again


class PlainFiles(ProcessFileOps):
    """Files of this process: root-owned and 0644, readable by node-exporter from the first instant."""

    def atomic_move(self, src, dest):
        os.chmod(src, 0o644)
        super().atomic_move(src, dest)


def load_config(path):
    with open(path) as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise ValueError("%s must hold a JSON object" % path)
    for key, kind in KEYS.items():
        if key not in config:
            raise ValueError("%s: %s is missing" % (path, key))
        if not isinstance(config[key], kind):
            raise ValueError("%s: %s must be a %s" % (path, key, kind.__name__))
    if not isinstance(config.get("lock_timeout", LOCK_WAIT), int):
        raise ValueError("%s: lock_timeout must be an int" % path)
    compose_files = config.get("compose_files", {})
    if not isinstance(compose_files, dict):
        raise ValueError("%s: compose_files must be an object {project: compose file}" % path)
    for name, compose in compose_files.items():
        if not PROJECT_NAME.match(name):
            raise ValueError("%s: compose_files: %r is not a Compose project name (lower-case letters, digits, - and _)"
                             % (path, name))
        if not isinstance(compose, str) or not os.path.isabs(compose):
            raise ValueError("%s: compose_files.%s must be the absolute path of the project's compose file"
                             % (path, name))
    if not config["metrics_path"].endswith(".prom"):
        raise ValueError("%s: metrics_path must end in .prom (node-exporter reads only those)" % path)
    return config


def watched(config):
    """The stacks and the compose_files projects."""
    return config["projects"] + sorted(set(config.get("compose_files", {})) - set(config["projects"]))


def run_command(argv):
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


class Recorder(object):
    """Keeps the state file and writes the metrics (on every exit path, through _files.write_files)."""

    def __init__(self, metrics_path, state_path, projects, maintenance_dir):
        self.metrics_path = metrics_path
        self.state_path = state_path
        self.projects = projects
        self.maintenance_dir = maintenance_dir
        self.files = PlainFiles()
        self.state = metrics.new_state()
        self.started = time.time()

    def load(self):
        """Read the previous run's state (under the lock); one that cannot be read is left as it is, not replaced."""
        try:
            previous = read_bytes(self.state_path, follow_symlinks=False) if self.state_path else None
        except FileError as exc:
            print("squaremcp-stack-watchdog: %s; the state file is left alone this run" % exc, file=sys.stderr)
            self.state_path = None
            return
        self.state = metrics.load_state(previous.decode("utf-8", "replace") if previous else None)

    def maintenance(self):
        return {p: bool(self.maintenance_dir) and os.path.exists(os.path.join(self.maintenance_dir, p))
                for p in self.projects}

    def write(self, statuses, success=False, restored=(), final=True):
        if final and statuses is not None:
            metrics.account_restarts(self.state, statuses, restored)
        if success:
            self.state["last_success"] = self.started
        totals = metrics.restart_totals(self.state)
        if not final and statuses is not None:
            # Before the restore: count what Docker's restart policy did, without committing it yet.
            snapshot = json.loads(json.dumps(self.state))
            totals = metrics.restart_totals(metrics.account_restarts(snapshot, statuses))
        text = metrics.render(statuses, self.maintenance(), totals, self.started, self.state.get("last_success"))
        files = [{"path": self.metrics_path, "content": text.encode("utf-8"), "mode": "0644"}]
        if final and self.state_path:
            files.append({"path": self.state_path, "content": metrics.dump_state(self.state).encode("utf-8"),
                          "mode": "0644"})
        write_files(self.files, files)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="/etc/squaremcp/stacks-watchdog.json")
    parser.add_argument("--validate", action="store_true", help="only validate the configuration file")
    parser.add_argument("--metrics-path", help="where a run whose configuration cannot be read writes its metrics")
    args = parser.parse_args(argv)
    os.umask(0o022)
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        print("squaremcp-stack-watchdog: %s" % exc, file=sys.stderr)
        if not args.validate and args.metrics_path:
            try:
                Recorder(args.metrics_path, None, [], None).write(None)
            except (FileError, stacks.StackError) as error:
                print("squaremcp-stack-watchdog: metrics not written: %s" % error, file=sys.stderr)
        return 2
    if args.validate:
        print("%s: valid" % args.config)
        return 0
    recorder = Recorder(config["metrics_path"], config["state_path"], watched(config), config["maintenance_dir"])
    try:
        lock = FileLock(config["lock_file"], timeout=config.get("lock_timeout", LOCK_WAIT)).acquire()
    except FileError as exc:
        print("squaremcp-stack-watchdog: %s" % exc, file=sys.stderr)
        return 2
    try:
        return locked_run(config, recorder)
    finally:
        lock.release()


def locked_run(config, recorder):
    code, statuses, restored = 2, None, []
    try:
        recorder.load()
        code, statuses, restored = watch(config, recorder)
    except (stacks.StackError, FileError) as exc:
        print("squaremcp-stack-watchdog: %s" % exc, file=sys.stderr)
    except Exception as exc:  # Docker unreachable, API errors: still write the metrics below
        print("squaremcp-stack-watchdog: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
    finally:
        try:
            recorder.write(statuses, success=code == 0, restored=restored)
        except (FileError, stacks.StackError) as exc:
            print("squaremcp-stack-watchdog: metrics not written: %s" % exc, file=sys.stderr)
            code = code or 2
    return code


def watch(config, recorder):
    """(exit code, final statuses, restored keys)."""
    if not watched(config):
        print("no stacks configured: nothing to watch")
        return 0, [], []
    import docker  # python3-docker; imported here so that a missing library still leaves metrics
    from docker.errors import DockerException, NotFound

    host = config.get("docker_host", "unix:///var/run/docker.sock")
    try:
        api = docker.APIClient(base_url=host, version="auto", timeout=60)
    except DockerException as exc:
        raise stacks.StackError("cannot reach the Docker daemon at %s (%s): is docker.service running?" % (host, exc))
    options = restore.Options(projects=watched(config), stacks_dir=config["stacks_dir"],
                              compose_files=config.get("compose_files") or None,
                              maintenance_dir=config["maintenance_dir"], restore=True, timeout=config["timeout"],
                              lock_file=None, lease_lock_file=config["lock_file"])  # main() holds the lock

    def observed(found):
        try:
            recorder.write(found.services, final=False)
        except (FileError, stacks.StackError) as exc:
            print("squaremcp-stack-watchdog: metrics not written: %s" % exc, file=sys.stderr)

    outcome = restore.run(api, options, run_command, not_found=(NotFound,), observed=observed)
    sys.stdout.write(stacks.summary(outcome.found.services))
    restored = sorted({"%s/%s" % (a.project, a.service) for a in outcome.actions
                       if a.result == "done" and a.action != "wait"})
    for action in outcome.actions:
        print("%s %s/%s (%s): %s" % (action.action, action.project, action.service, action.container or "-",
                                     action.result))
    final = (outcome.after or outcome.found).services
    down = [s for s in final if not s.ok and not s.maintenance]
    for status in down:
        print("still down: %s: %s" % (status.key, status.problem), file=sys.stderr)
    # A compose_files project whose file is gone: its removed services cannot come back (maintenance: reported only).
    broken = [message for project, message in sorted(outcome.errors.items())
              if not outcome.found.projects[project].maintenance]
    for message in broken:
        print("squaremcp-stack-watchdog: %s" % message, file=sys.stderr)
    return (1 if down or broken else 0), final, restored


if __name__ == "__main__":
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring back what :mod:`._stacks` found wrong, in dependency order, and wait until it is healthy.

Shared by squaremcp.infra.stack_health (``restore: true``) and the stacks watchdog. Per project, the
services are taken level by level (a level only depends on earlier ones); within a level every
service that is not running and healthy gets its action, then the run waits until that level is
healthy (or the deadline passes) before the next level starts:

* ``start``     created, exited or dead containers (Docker API)
* ``restart``   running but unhealthy containers (Docker never restarts those itself)
* ``unpause``   paused containers
* ``create``    services without a container: ``docker compose up --detach --no-deps --no-recreate <service>``
                with the project's compose file
* ``wait``      health check starting, or Docker's restart policy is already restarting it

Level k of every project is taken at the same time, so one stack that stays unhealthy does not keep the
others waiting. Projects with a maintenance flag are reported and left alone, and so is every project while a
deployment holds the stacks: the role's converge writes ``<lock_file>.deploying`` (an epoch deadline) under the
lock before it writes the stack files and removes it when ``docker compose up`` is done, so the watchdog never
starts an old container or creates a service that Compose is replacing at that moment.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks
from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileError, FileLock, read_bytes

RunCommand = Callable[[Sequence[str]], Tuple[int, str, str]]
LEASE_SUFFIX = ".deploying"


def lease_path(lock_file: str) -> str:
    """The deployment lease beside the lock file (written by squaremcp.infra.stack_files, read here)."""
    return lock_file + LEASE_SUFFIX


def deployment_hold(lock_file: Optional[str], now: Optional[float] = None) -> Optional[str]:
    """Why restores must wait (a deployment's lease that has not expired), or None."""
    if not lock_file:
        return None
    path = lease_path(lock_file)
    try:
        deadline = float((read_bytes(path) or b"").decode("ascii", "replace").strip() or "0")
    except (FileError, ValueError):
        return None
    now = time.time() if now is None else now
    if deadline <= now:
        return None
    return ("skipped: a deployment (role squaremcp.infra.stacks) holds the stacks for %ds more (%s; delete it only "
            "if no ansible-playbook run is deploying)" % (int(deadline - now) + 1, os.path.abspath(path)))


@dataclasses.dataclass
class Action:
    project: str
    service: str
    container: Optional[str]
    action: str
    result: str = "planned"

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Options:
    projects: Optional[List[str]] = None
    stacks_dir: Optional[str] = "/opt/stacks"
    # {project: compose file} of projects outside stacks_dir (e.g. the edge's); always checked and restored
    compose_files: Optional[Dict[str, str]] = None
    maintenance_dir: Optional[str] = "/var/lib/squaremcp/stacks/maintenance"
    restore: bool = False
    timeout: int = 120
    poll_interval: float = 1.0
    stop_timeout: int = 10
    lock_file: Optional[str] = "/run/lock/squaremcp-stacks.lock"
    lock_timeout: int = 300
    # Whose deployment lease to honour; the watchdog, which holds lock_file for its whole run, passes it here.
    lease_lock_file: Optional[str] = None

    @property
    def lease_of(self) -> Optional[str]:
        return self.lease_lock_file or self.lock_file


@dataclasses.dataclass
class Outcome:
    found: stacks.Report
    actions: List[Action]
    after: Optional[stacks.Report] = None
    restoring: bool = False

    @property
    def unresolved(self) -> List[stacks.ServiceStatus]:
        """Problems left after the restore (maintenance projects included: they were not touched)."""
        report = self.after or self.found
        return report.problems

    @property
    def errors(self) -> Dict[str, str]:
        """Projects that could not be fully checked or restored (a compose_files project whose file is gone)."""
        return (self.after or self.found).errors

    @property
    def changed(self) -> bool:
        """A restore (or, in check mode, the plan of one) that starts, restarts, unpauses or creates something."""
        return self.restoring and any(a.action != "wait" and not a.result.startswith("skipped") for a in self.actions)

    def as_dict(self) -> Dict[str, Any]:
        found = self.found
        result = {
            "services": [s.as_dict() for s in found.services],
            "problems": [s.as_dict() for s in found.problems],
            "actions": [a.as_dict() for a in self.actions],
            "projects": {name: {"compose_file": spec.compose_file, "maintenance": spec.maintenance,
                                "services": sorted(spec.services)} for name, spec in found.projects.items()},
        }
        if self.after is not None:
            result["after"] = [s.as_dict() for s in self.after.services]
            result["unresolved"] = [s.as_dict() for s in self.after.problems]
        return result


def plan(report: stacks.Report) -> List[List[Action]]:
    """Actions per dependency level: step k holds level k of every project, so independent stacks are brought
    back together and no stack waits for another. Maintenance projects get ``skipped`` entries."""
    steps: List[List[Action]] = []
    for project in sorted(report.projects):
        spec = report.projects[project]
        problems: Dict[str, List[stacks.ServiceStatus]] = {}
        for status in report.of(project):
            if status.action:
                problems.setdefault(status.service, []).append(status)
        if not problems:
            continue
        depth = 0
        for level in report.dependency_levels(project):
            step = []
            for service in level:
                for status in problems.get(service, []):
                    action = Action(project, service, status.container, status.action)
                    if spec.maintenance:
                        action.result = "skipped: maintenance flag set"
                    elif status.action == "create" and not spec.compose_file:
                        action.result = "skipped: no compose file known for project %s" % project
                    step.append(action)
            if step:
                if depth == len(steps):
                    steps.append([])
                steps[depth].extend(step)
                depth += 1
    return steps


def _compose_up(spec: stacks.ProjectSpec, service: str) -> List[str]:
    argv = ["docker", "compose", "--project-name", spec.name, "--file", spec.compose_file]
    if spec.working_dir:
        argv += ["--project-directory", spec.working_dir]
    return argv + ["up", "--detach", "--no-deps", "--no-recreate", service]


def _perform(api, report: stacks.Report, action: Action, run_command: RunCommand, options: Options) -> None:
    status = next((s for s in report.of(action.project)
                   if s.service == action.service and s.container == action.container), None)
    try:
        if action.action == "create":
            rc, out, err = run_command(_compose_up(report.projects[action.project], action.service))
            if rc != 0:
                raise RuntimeError((err or out or "exit code %d" % rc).strip().splitlines()[-1])
        elif action.action == "start":
            api.start(status.container_id)
        elif action.action == "restart":
            api.restart(status.container_id, timeout=options.stop_timeout)
        elif action.action == "unpause":
            api.unpause(status.container_id)
        action.result = "done"
    except Exception as exc:  # Docker API and CLI errors alike: reported per action, the run goes on
        action.result = "failed: %s" % " ".join(str(exc).split())[:300]


def _settled(report: stacks.Report, step: List[Action]) -> bool:
    wanted = {(a.project, a.service) for a in step}
    return all(s.ok for s in report.services if (s.project, s.service) in wanted)


def restore(api, found: stacks.Report, options: Options, run_command: RunCommand,
            collect: Callable[[], stacks.Report], check_mode: bool = False,
            clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
            hold: Optional[str] = None) -> Outcome:
    """Act on ``found`` level by level; ``collect`` re-reads the state while waiting. ``hold`` (a reason)
    skips every action."""
    steps = plan(found)
    actions = [a for step in steps for a in step]
    for action in actions:
        if hold and action.result == "planned":
            action.result = hold
    if check_mode or not actions:
        return Outcome(found=found, actions=actions, restoring=True)
    deadline = clock() + options.timeout
    current = found
    for step in steps:
        for action in step:
            if action.result == "planned" and action.action != "wait":
                _perform(api, current, action, run_command, options)
            elif action.result == "planned":
                action.result = "done"
        while clock() < deadline:
            current = collect()
            # Only what was acted on (or is Docker's to finish) is waited for; a failed action will not heal.
            if _settled(current, [a for a in step if a.result == "done"]):
                break
            sleep(options.poll_interval)
    return Outcome(found=found, actions=actions, after=collect(), restoring=True)


def run(api, options: Options, run_command: RunCommand, check_mode: bool = False,
        not_found=(LookupError,), observed: Optional[Callable[[stacks.Report], None]] = None,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Collect, report through ``observed``, and with ``options.restore`` restore under the lock."""
    def collect() -> stacks.Report:
        return stacks.collect(api, options.projects, options.stacks_dir, options.maintenance_dir, not_found,
                              compose_files=options.compose_files)

    found = collect()
    if observed is not None:
        observed(found)
    if not options.restore:
        return Outcome(found=found, actions=[a for step in plan(found) for a in step])
    if check_mode or not found.problems:
        return restore(api, found, options, run_command, collect, check_mode=True,
                       hold=deployment_hold(options.lease_of))
    lock = FileLock(options.lock_file, timeout=options.lock_timeout) if options.lock_file else None
    try:
        if lock:
            lock.acquire()
        # Another run may have restored things while this one waited for the lock.
        found = collect() if lock else found
        return restore(api, found, options, run_command, collect, clock=clock, sleep=sleep,
                       hold=deployment_hold(options.lease_of))
    except FileError as exc:
        raise stacks.StackError(str(exc))
    finally:
        if lock:
            lock.release()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker side of backups: find a Compose service's container, run commands inside it with
their input and output streamed (``docker exec -i``: dumps and restores never touch the host's
disk), and stop / start / wait for containers around a restore.

The docker CLI is used rather than the SDK because exec streams must be plain pipes in both
directions (restic reads the dump from one, a restore writes into the other) with an exit code.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class SourceError(Exception):
    """A source cannot be backed up or restored; the message names it and says what to do."""


@dataclass
class Container:
    id: str
    name: str
    status: str
    health: str
    exit_code: int
    project: str
    service: str
    user: str = ""
    mounts: List[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "%s/%s (container %s)" % (self.project, self.service, self.name)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def described_state(self) -> str:
        if self.status == "exited":
            return "exited with code %d" % self.exit_code
        return self.status


def _container(data: dict) -> Container:
    state = data.get("State") or {}
    labels = (data.get("Config") or {}).get("Labels") or {}
    return Container(id=data["Id"], name=data.get("Name", "").lstrip("/"), status=state.get("Status", ""),
                     health=(state.get("Health") or {}).get("Status", ""), exit_code=int(state.get("ExitCode") or 0),
                     project=labels.get(PROJECT_LABEL, ""), service=labels.get(SERVICE_LABEL, ""),
                     user=(data.get("Config") or {}).get("User", "") or "", mounts=data.get("Mounts") or [])


class Docker(object):
    def __init__(self, binary: str = "docker", timeout: int = 3600):
        self.binary = binary
        self.timeout = timeout

    def run(self, args: Sequence[str], what: str, input: Optional[bytes] = None, timeout: Optional[int] = None,
            check: bool = True) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run([self.binary] + list(args), input=input, capture_output=True,
                                  stdin=None if input is not None else subprocess.DEVNULL,
                                  timeout=timeout or self.timeout, check=False)
        except FileNotFoundError:
            raise SourceError("%s: the docker CLI (%s) is not installed" % (what, self.binary))
        except subprocess.TimeoutExpired:
            raise SourceError("%s: docker did not answer within %ss" % (what, timeout or self.timeout))
        if check and done.returncode != 0:
            raise SourceError("%s failed: %s" % (what, _tail(done.stderr)))
        return done

    def inspect(self, ids: Sequence[str], what: str) -> List[Container]:
        if not ids:
            return []
        out = self.run(["inspect"] + list(ids), what).stdout
        return [_container(item) for item in json.loads(out.decode("utf-8"))]

    def find(self, project: str, service: str) -> Container:
        """The container of ``service`` in Compose project ``project`` (SourceError when none or several)."""
        what = "finding the container of %s/%s" % (project, service)
        out = self.run(["ps", "-aq", "--no-trunc", "--filter", "label=%s=%s" % (PROJECT_LABEL, project),
                        "--filter", "label=%s=%s" % (SERVICE_LABEL, service)], what).stdout.decode().split()
        if not out:
            raise SourceError("service %s of Compose project %s has no container: deploy the stack (site.yml, "
                              "docker compose -p %s ps)" % (service, project, project))
        containers = self.inspect(out, what)
        running = [c for c in containers if c.running]
        return (running or containers)[0]

    def running(self, project: str, service: str) -> Container:
        container = self.find(project, service)
        if not container.running:
            raise SourceError("%s is %s, not running: start it (docker compose -p %s up -d %s) and run again"
                              % (container.label, container.described_state, project, service))
        return container

    def exec_argv(self, container: Container, argv: Sequence[str], user: str = "", stdin: bool = False) -> List[str]:
        """``docker exec`` of ``argv`` (never give it a secret: a command line is visible to every process)."""
        args = [self.binary, "exec"]
        if stdin:
            args.append("-i")
        if user:
            args += ["--user", user]
        return args + [container.id] + list(argv)

    def exec(self, container: Container, argv: Sequence[str], what: str, user: str = "", input: Optional[bytes] = None,
             timeout: Optional[int] = None, check: bool = True) -> subprocess.CompletedProcess:
        full = self.exec_argv(container, argv, user=user, stdin=input is not None)
        return self.run(full[1:], what, input=input, timeout=timeout, check=check)

    def popen(self, container: Container, argv: Sequence[str], user: str = "", stdin: bool = False) -> subprocess.Popen:
        return subprocess.Popen(self.exec_argv(container, argv, user=user, stdin=stdin),
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)

    def volume_mountpoint(self, name: str) -> str:
        done = self.run(["volume", "inspect", name], "inspecting volume %s" % name, check=False)
        if done.returncode != 0:
            raise SourceError("Docker volume %s does not exist: deploy the stack that declares it (site.yml) or fix "
                              "backup_sources" % name)
        return json.loads(done.stdout.decode("utf-8"))[0]["Mountpoint"]

    def using_volume(self, name: str) -> List[Container]:
        ids = self.run(["ps", "-q", "--no-trunc", "--filter", "volume=%s" % name], "finding the users of volume %s" % name)
        return self.inspect(ids.stdout.decode().split(), "inspecting the users of volume %s" % name)

    def stop(self, containers: Sequence[Container], timeout: int = 30) -> None:
        if containers:
            self.run(["stop", "--time", str(timeout)] + [c.id for c in containers],
                     "stopping %s" % ", ".join(c.label for c in containers), timeout=timeout + 60)

    def start(self, containers: Sequence[Container]) -> None:
        if containers:
            self.run(["start"] + [c.id for c in containers], "starting %s" % ", ".join(c.label for c in containers))

    def restart(self, container: Container, timeout: int = 30) -> None:
        self.run(["restart", "--time", str(timeout), container.id], "restarting %s" % container.label, timeout=timeout + 60)

    def wait_ready(self, container: Container, timeout: int, probe: Optional[Sequence[str]] = None) -> Container:
        """Wait until ``container`` runs and is healthy (or, without a health check, ``probe`` succeeds)."""
        deadline = time.monotonic() + timeout
        current = container
        while True:
            current = self.inspect([container.id], "inspecting %s" % container.label)[0]
            if current.running and current.health in ("healthy", "") and (
                    current.health == "healthy" or probe is None
                    or self.exec(current, probe, "probing %s" % current.label, check=False, timeout=30).returncode == 0):
                return current
            if time.monotonic() >= deadline:
                raise SourceError("%s is not ready after %ss (state %s, health %s): see docker logs %s"
                                  % (container.label, timeout, current.described_state, current.health or "none", current.name))
            time.sleep(0.5)


def _tail(data: bytes, limit: int = 400) -> str:
    text = " | ".join(line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip())
    return text if len(text) <= limit else "..." + text[-limit:]

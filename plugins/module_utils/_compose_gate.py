# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Compose projects a ``docker compose up --wait`` would act on (the gate of the module
squaremcp.infra.compose_pending). No Ansible imports.

A project has nothing to do when every service Compose's own ``config --hash '*'`` lists has a container
that is running (and healthy when it has a health check) and carries that hash in its
``com.docker.compose.config-hash`` label, and no container of the project belongs to a service the file no
longer declares (an orphan). The hash is Compose's, never recomputed here. Compose 2.26's ``config --hash``
differs from the label of a service with an ``env_file`` (``up`` hashes the service with the file read in), so for
a project that uses env files the hashes are Compose's hashes of its resolved configuration (``config --format
json``, env files already in ``environment``) given back on stdin without ``env_file``. When only hashes still
differ, Compose's own decision settles it (``docker compose --dry-run up --detach --remove-orphans``,
nothing to do when it reports every container ``Running``, or ``Waiting``/``Healthy`` for a dependency).
Whatever cannot be read makes the project pending: the gate may run ``up`` for nothing, never skip it on an error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Callable, Dict, List, Optional

from ansible_collections.squaremcp.infra.plugins.module_utils import _stacks as stacks

HASH_LABEL = "com.docker.compose.config-hash"
HASH_REASON = "has a config-hash label other than docker compose config --hash prints"
# A container Compose leaves as it is; Waiting/Healthy: it checks a dependency's health (depends_on condition).
DRY_RUN_SETTLED = re.compile(r"^\s*DRY-RUN MODE -\s+Container \S+\s+(Running|Waiting|Healthy)\s*$")


@dataclasses.dataclass
class Container:
    """A container of a Compose project, as ``docker inspect`` shows it."""

    name: str
    service: str
    state: str
    config_hash: Optional[str] = None
    health: str = "none"


def compose_hash_argv(project: str, project_dir: str) -> List[str]:
    """Arguments of ``docker`` for Compose's per-service config hashes, as community.docker.docker_compose_v2
    runs the project."""
    return ["compose", "--project-name", project, "--project-directory", project_dir,
            "config", "--hash", "*"]


def compose_resolved_argv(project: str, project_dir: str) -> List[str]:
    """The project as Compose loads it for ``up`` (env files read into ``environment``), as JSON."""
    return ["compose", "--project-name", project, "--project-directory", project_dir, "config", "--format", "json"]


def compose_hash_stdin_argv(project: str, project_dir: str) -> List[str]:
    """Compose's per-service config hashes of a configuration given on stdin."""
    return ["compose", "--project-name", project, "--project-directory", project_dir, "--file", "-",
            "config", "--hash", "*"]


def without_env_files(resolved: str) -> str:
    """``docker compose config --format json`` output with every service's ``env_file`` dropped: its variables are
    already in ``environment``, which is what ``up`` hashes into the container's label (Compose 2.26)."""
    project = json.loads(resolved)
    services = project.get("services") if isinstance(project, dict) else None
    if not isinstance(services, dict):
        raise ValueError("docker compose config --format json printed no services")
    for service in services.values():
        if isinstance(service, dict):
            service.pop("env_file", None)
    return json.dumps(project)


def compose_dry_run_argv(project: str, project_dir: str) -> List[str]:
    """What ``docker compose up`` would do, decided by Compose (nothing is changed)."""
    return ["compose", "--project-name", project, "--project-directory", project_dir, "--dry-run",
            "up", "--detach", "--remove-orphans"]


COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def hashes_may_differ(project_dir: str) -> bool:
    """True when the project's compose file uses ``env_file``: Compose 2.26's ``config --hash`` of the file then
    differs from the labels ``up`` writes, so the hashes are taken from the resolved configuration instead
    (:func:`without_env_files`). An unreadable file counts as True (the resolved path works for any project)."""
    for name in COMPOSE_FILES:
        try:
            with open(os.path.join(project_dir, name), "rb") as handle:
                return b"env_file" in handle.read()
        except FileNotFoundError:
            continue
        except OSError:
            return True
    return False


def dry_run_actions(text: str) -> List[str]:
    """Lines of ``docker compose --dry-run up`` output that are more than a running container (empty: settled)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not DRY_RUN_SETTLED.match(line)]


def parse_hashes(text: str) -> Dict[str, str]:
    """``<service> <hash>`` lines of ``docker compose config --hash '*'``."""
    hashes = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError("unexpected line in docker compose config --hash output: %r" % line[:200])
        hashes[fields[0]] = fields[1]
    return hashes


def containers_argv() -> List[str]:
    """Ids of every Compose container (one-off ones included; :func:`pending` leaves them out)."""
    return ["ps", "--all", "--quiet", "--no-trunc", "--filter", "label=" + stacks.PROJECT_LABEL]


def container_from_inspect(attrs: Dict[str, Any]) -> Container:
    """A :class:`Container` from ``docker inspect`` output."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    state = attrs.get("State") or {}
    return Container(name=(attrs.get("Name") or attrs.get("Id") or "?").lstrip("/"),
                     service=labels.get(stacks.SERVICE_LABEL, "?"), state=state.get("Status") or "unknown",
                     config_hash=labels.get(HASH_LABEL), health=(state.get("Health") or {}).get("Status") or "none")


def project_reasons(expected: Dict[str, str], containers: List[Container]) -> List[str]:
    """Why ``up --wait`` has something to do for one project (empty: nothing)."""
    reasons = []
    by_service: Dict[str, List[Container]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    for service, config_hash in sorted(expected.items()):
        found = by_service.get(service) or []
        if not found:
            reasons.append("service %s has no container" % service)
        for container in found:
            if container.state != "running":
                reasons.append("container %s is %s" % (container.name, container.state))
            elif container.health not in ("healthy", "none"):
                reasons.append("container %s is %s" % (container.name, container.health))
            if container.config_hash != config_hash:
                reasons.append("container %s %s" % (container.name, HASH_REASON))
    for service in sorted(set(by_service) - set(expected)):
        reasons.extend("container %s is an orphan (service %s is not in the compose file)" % (c.name, service)
                       for c in by_service[service])
    return reasons


def pending(projects: Dict[str, str], hashes: Callable[[str, str], Dict[str, str]],
            containers: Callable[[], List[Dict[str, Any]]], dry_run: Callable[[str, str], str],
            errors=(Exception,)) -> Dict[str, List[str]]:
    """{project: reasons} for every project of ``projects`` ({name: directory}) with something to do.

    ``hashes(name, directory)`` returns Compose's hashes, ``containers()`` the ``docker inspect`` output of every
    Compose container and ``dry_run(name, directory)`` the output of ``docker compose --dry-run up`` (each raises
    on failure). Any exception of ``errors`` makes the project (or, while reading containers, every project)
    pending.
    """
    result: Dict[str, List[str]] = {}
    by_project: Dict[str, List[Container]] = {}
    try:
        for attrs in containers():
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            project = labels.get(stacks.PROJECT_LABEL)
            if project in projects and labels.get(stacks.ONEOFF_LABEL, "False") != "True":
                by_project.setdefault(project, []).append(container_from_inspect(attrs))
    except errors as exc:
        reason = "cannot read the containers (%s): running docker compose up" % exc
        return {name: [reason] for name in projects}
    for name, directory in sorted(projects.items()):
        try:
            expected = hashes(name, directory)
        except errors as exc:
            result[name] = ["cannot read Compose's config hashes (%s): running docker compose up" % exc]
            continue
        if not expected:
            result[name] = ["Compose lists no service: running docker compose up"]
            continue
        reasons = project_reasons(expected, by_project.get(name, []))
        if reasons and all(reason.endswith(HASH_REASON) for reason in reasons):
            try:
                actions = dry_run_actions(dry_run(name, directory))
            except errors as exc:
                actions = ["cannot ask docker compose --dry-run up (%s)" % exc]
            reasons = (reasons + ["docker compose --dry-run up: %s" % "; ".join(actions[:5])]) if actions else []
        if reasons:
            result[name] = reasons
    return result

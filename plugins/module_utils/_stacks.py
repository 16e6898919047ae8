# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Compose project on a Docker host looks like right now, and what is wrong with it.

Plain Python shared by the module squaremcp.infra.stack_health and the stacks watchdog (roles/stacks,
which runs it without Ansible). No Ansible imports.

* One ``GET /containers/json`` lists the containers of every project (label
  ``com.docker.compose.project``); one inspect per container adds health, failing streak, last probe
  output and restart count.
* The services a project SHOULD have come from its compose file (``<stacks_dir>/<project>/compose.yml``, the
  file ``compose_files`` names for a project that lives elsewhere, e.g. the edge's, or the file the containers'
  labels name), so a removed container is reported as ``missing``. A ``compose_files`` project whose file is
  gone or broken is reported in :attr:`Report.errors` and the other projects are still collected.
* Dependencies come from the compose file's ``depends_on`` (or Compose's ``com.docker.compose.depends_on``
  label) and give the order in which :mod:`._stack_restore` brings services back.
* Probe output is redacted: values of the project's secret files and env files, secret-looking
  environment variables and ``password=...``-like fragments never leave this module.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Dict, Iterable, List, Optional

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by the callers
    yaml = None
    HAS_YAML = False

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
DEPENDS_ON_LABEL = "com.docker.compose.depends_on"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
NUMBER_LABEL = "com.docker.compose.container-number"

COMPOSE_FILE = "compose.yml"
SECRETS_SUBDIR = "secrets"
PROBE_OUTPUT_LIMIT = 400
REDACTED = "********"
MIN_REDACTED_LENGTH = 4
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
SECRET_FRAGMENT = re.compile(
    r"(?i)\b((?:[a-z0-9_]*(?:password|passwd|pwd|secret|token|api[-_]?key|auth))[a-z0-9_]*)(\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s,;&]+)")
URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]+)")

# state -> (what is wrong, what brings it back)
STATE_ACTIONS = {
    "missing": ("no container: removed, or never created", "create"),
    "created": ("created but never started", "start"),
    "exited": ("exited", "start"),
    "dead": ("dead (Docker could not stop or remove it cleanly)", "start"),
    "paused": ("paused", "unpause"),
    "restarting": ("restarting (Docker's restart policy after a crash)", "wait"),
    "removing": ("being removed", "wait"),
}


class StackError(Exception):
    """The check cannot run (no Docker, unreadable compose file, dependency cycle); the message says what to do."""


@dataclasses.dataclass
class ServiceSpec:
    """A service as the compose file declares it."""

    name: str
    depends_on: List[str] = dataclasses.field(default_factory=list)
    container_name: Optional[str] = None
    healthcheck: bool = False


@dataclasses.dataclass
class ProjectSpec:
    """A Compose project: where its file is and which services it should run."""

    name: str
    compose_file: Optional[str] = None
    working_dir: Optional[str] = None
    services: Dict[str, ServiceSpec] = dataclasses.field(default_factory=dict)
    maintenance: bool = False


@dataclasses.dataclass
class ServiceStatus:
    """One container of a service (or the absence of one), as found."""

    project: str
    service: str
    container: Optional[str] = None
    container_id: Optional[str] = None
    state: str = "missing"
    health: str = "none"
    exit_code: Optional[int] = None
    restarts: int = 0
    failing_streak: int = 0
    last_probe_output: Optional[str] = None
    started_at: Optional[str] = None
    maintenance: bool = False

    @property
    def ok(self) -> bool:
        """Running, and healthy when it has a health check."""
        return self.state == "running" and self.health in ("healthy", "none")

    @property
    def problem(self) -> Optional[str]:
        if self.ok:
            return None
        if self.state == "running":
            if self.health == "starting":
                return "health check still starting"
            streak = " (failing streak %d)" % self.failing_streak if self.failing_streak else ""
            return "unhealthy%s%s" % (streak, ": " + self.last_probe_output if self.last_probe_output else "")
        text = STATE_ACTIONS.get(self.state, ("in state %s" % self.state, None))[0]
        if self.state == "exited" and self.exit_code is not None:
            text = "exited with code %d" % self.exit_code
        return text

    @property
    def action(self) -> Optional[str]:
        """What a restore does: create, start, restart, unpause, wait (for Docker), or None."""
        if self.ok:
            return None
        if self.state == "running":
            return "wait" if self.health == "starting" else "restart"
        return STATE_ACTIONS.get(self.state, (None, None))[1]

    @property
    def key(self) -> str:
        return "%s/%s" % (self.project, self.service)

    def as_dict(self) -> Dict[str, Any]:
        result = dataclasses.asdict(self)
        result.update(problem=self.problem, action=self.action)
        return result


# --- compose files --------------------------------------------------------------------------------


def _depends_on(value: Any) -> List[str]:
    if isinstance(value, dict):
        return sorted(str(name) for name in value)
    if isinstance(value, list):
        return sorted(str(name) for name in value)
    return []


def parse_compose(text: str, name: str, path: Optional[str] = None) -> ProjectSpec:
    """The services, dependencies and health checks of a compose file's text."""
    if not HAS_YAML:
        raise StackError("PyYAML is missing: install python3-yaml on the host")
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise StackError("%s is not valid YAML (%s): fix or re-render it (role squaremcp.infra.stacks)"
                         % (path or name, str(exc).splitlines()[0]))
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise StackError("%s has no services mapping: fix or re-render it" % (path or name))
    spec = ProjectSpec(name=name, compose_file=path, working_dir=os.path.dirname(path) if path else None)
    for service, body in services.items():
        body = body if isinstance(body, dict) else {}
        check = body.get("healthcheck") or {}
        test = check.get("test") if isinstance(check, dict) else None
        has_check = bool(test) and not check.get("disable") and test not in (["NONE"], "NONE")
        spec.services[str(service)] = ServiceSpec(
            name=str(service), depends_on=_depends_on(body.get("depends_on")),
            container_name=body.get("container_name"), healthcheck=has_check)
    return spec


def load_compose(path: str, name: str) -> ProjectSpec:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_compose(handle.read(), name, path)
    except OSError as exc:
        raise StackError("cannot read %s: %s" % (path, exc.strerror or exc))


def depends_on_label(value: Optional[str]) -> List[str]:
    """Services named by Compose's ``com.docker.compose.depends_on`` label (``db:service_healthy:false,...``)."""
    return sorted({part.split(":", 1)[0] for part in (value or "").split(",") if part.strip()})


def dependency_levels(services: Dict[str, List[str]]) -> List[List[str]]:
    """Services grouped so that each group only depends on earlier groups (Kahn's algorithm).

    Dependencies on services that are not in ``services`` are ignored; a cycle raises StackError.
    """
    pending = {name: {dep for dep in deps if dep in services and dep != name} for name, deps in services.items()}
    levels = []
    while pending:
        ready = sorted(name for name, deps in pending.items() if not deps)
        if not ready:
            raise StackError("depends_on forms a cycle between %s: fix the compose file" % ", ".join(sorted(pending)))
        levels.append(ready)
        for name in ready:
            del pending[name]
        for deps in pending.values():
            deps.difference_update(ready)
    return levels


# --- redaction ------------------------------------------------------------------------------------


class Redactor(object):
    """Replaces known secret values and secret-looking fragments in text."""

    def __init__(self, values: Iterable[str] = ()):
        self.values = sorted({v for v in values if v and len(v) >= MIN_REDACTED_LENGTH}, key=len, reverse=True)

    def extend(self, values: Iterable[str]) -> None:
        self.values = sorted(set(self.values) | {v for v in values if v and len(v) >= MIN_REDACTED_LENGTH},
                             key=len, reverse=True)

    def __call__(self, text: Optional[str], limit: int = PROBE_OUTPUT_LIMIT) -> Optional[str]:
        if text is None:
            return None
        for value in self.values:
            text = text.replace(value, REDACTED)
        text = URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
        text = BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        text = SECRET_FRAGMENT.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit - 3] + "..."


def env_file_values(text: str) -> List[str]:
    """Values of a dotenv file (``KEY=value``, ``KEY='value'``, ``KEY="value"``)."""
    values = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        value = line.split("=", 1)[1].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values.append(value)
    return values


def secret_values(working_dir: Optional[str]) -> List[str]:
    """Contents of the project's secret files and values of its env files (``<working_dir>/secrets/``)."""
    values = []
    directory = os.path.join(working_dir, SECRETS_SUBDIR) if working_dir else None
    if not directory or not os.path.isdir(directory):
        return values
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(65536)
        except OSError:
            continue
        if entry.endswith(".env"):
            values.extend(env_file_values(text))
        else:
            values.extend([text, text.strip()])
    return values


def environment_secrets(env: Optional[List[str]]) -> List[str]:
    """Values of a container's environment variables whose names look secret (``*PASSWORD*``, ``*TOKEN*`` ...)."""
    values = []
    for item in env or []:
        name, _sep, value = item.partition("=")
        if SECRET_NAME.search(name) and not name.endswith("_FILE"):
            values.append(value)
    return values


# --- containers -----------------------------------------------------------------------------------


def status_from_inspect(project: str, service: str, attrs: Dict[str, Any], redact: Redactor) -> ServiceStatus:
    """A :class:`ServiceStatus` from ``docker inspect`` output."""
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    log = health.get("Log") or []
    config = attrs.get("Config") or {}
    test = (config.get("Healthcheck") or {}).get("Test")
    health_status = health.get("Status") or "none"
    if test in (["NONE"], None) and not health:
        health_status = "none"
    last = log[-1] if log else {}
    status = state.get("Status") or "unknown"
    redact.extend(environment_secrets(config.get("Env")))
    return ServiceStatus(
        project=project, service=service, container=(attrs.get("Name") or "").lstrip("/") or None,
        container_id=(attrs.get("Id") or "")[:12] or None, state=status,
        health=health_status,
        exit_code=state.get("ExitCode") if status in ("exited", "dead") else None,
        restarts=int(attrs.get("RestartCount") or 0), failing_streak=int(health.get("FailingStreak") or 0),
        last_probe_output=redact(last.get("Output")) if last and (last.get("ExitCode") or health_status != "healthy")
        else None,
        started_at=state.get("StartedAt"))


@dataclasses.dataclass
class Report:
    """Everything found for the selected projects."""

    projects: Dict[str, ProjectSpec]
    services: List[ServiceStatus]
    # project -> why it cannot be fully checked or restored (a compose_files project whose file is gone)
    errors: Dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def problems(self) -> List[ServiceStatus]:
        return [status for status in self.services if not status.ok]

    def of(self, project: str) -> List[ServiceStatus]:
        return [status for status in self.services if status.project == project]

    def dependency_levels(self, project: str) -> List[List[str]]:
        spec = self.projects[project]
        graph = {name: service.depends_on for name, service in spec.services.items()}
        for status in self.of(project):
            graph.setdefault(status.service, [])
        return dependency_levels(graph)


def project_dirs(stacks_dir: Optional[str]) -> Dict[str, str]:
    """{project: compose file} for every ``<stacks_dir>/<project>/compose.yml``."""
    found = {}
    if stacks_dir and os.path.isdir(stacks_dir):
        for name in sorted(os.listdir(stacks_dir)):
            path = os.path.join(stacks_dir, name, COMPOSE_FILE)
            if os.path.isfile(path):
                found[name] = path
    return found


def list_containers(api, project: Optional[str] = None) -> List[Dict[str, Any]]:
    """One list call: every Compose container (of one project when given), one-off containers left out."""
    label = PROJECT_LABEL if project is None else "%s=%s" % (PROJECT_LABEL, project)
    listed = api.containers(all=True, filters={"label": label})
    return [c for c in listed if (c.get("Labels") or {}).get(ONEOFF_LABEL, "False") != "True"]


def _extra_project_error(name: str, path: str, reason: str) -> str:
    return ("project %s: its compose file %s %s: converge the role that writes it, or take %s out of compose_files "
            "(stacks_watchdog_extra_projects of the role squaremcp.infra.stacks); until then its removed services "
            "cannot be re-created" % (name, path, reason, name))


def _project_spec(name: str, path: Optional[str], extra_path: Optional[str], errors: Dict[str, str]) -> ProjectSpec:
    """The project's compose file parsed (``path``: from stacks_dir or the containers' labels). For a
    ``compose_files`` project (``extra_path``) a missing or broken file is an entry of ``errors``, and the
    containers are still checked and started; for a stack a broken file raises."""
    if extra_path is None:
        return load_compose(path, name) if path and os.path.isfile(path) else ProjectSpec(name=name)
    if not os.path.isfile(extra_path):
        errors[name] = _extra_project_error(name, extra_path, "is missing")
    else:
        path = extra_path
    if not path or not os.path.isfile(path):
        return ProjectSpec(name=name)
    try:
        return load_compose(path, name)
    except StackError as exc:
        errors[name] = _extra_project_error(name, path, "cannot be used (%s)" % exc)
        return ProjectSpec(name=name)


def collect(api, projects: Optional[List[str]] = None, stacks_dir: Optional[str] = None,
            maintenance_dir: Optional[str] = None, not_found=(LookupError,),
            compose_files: Optional[Dict[str, str]] = None) -> Report:
    """Find every selected project's services and their containers.

    ``api`` is a ``docker.APIClient`` (or anything with ``containers`` and ``inspect_container``);
    ``not_found`` are the exceptions an inspect raises for a container removed meanwhile. ``compose_files``
    ({project: compose file}) adds projects that live outside ``stacks_dir``; they are always selected.
    """
    extra = dict(compose_files or {})
    files = project_dirs(stacks_dir)
    only = set(projects) | set(extra) if projects else None
    listed = list_containers(api, next(iter(only)) if only and len(only) == 1 else None)
    by_project: Dict[str, List[Dict[str, Any]]] = {}
    for container in listed:
        name = container["Labels"][PROJECT_LABEL]
        if only is None or name in only:
            by_project.setdefault(name, []).append(container)
    names = sorted(only if only is not None else set(by_project) | set(files) | set(extra))
    specs: Dict[str, ProjectSpec] = {}
    statuses: List[ServiceStatus] = []
    errors: Dict[str, str] = {}
    for name in names:
        containers = by_project.get(name, [])
        labels = containers[0]["Labels"] if containers else {}
        path = files.get(name) if name not in extra else None
        spec = _project_spec(name, path or (labels.get(CONFIG_FILES_LABEL) or "").split(",")[0] or None,
                             extra.get(name), errors)
        if not containers and not spec.services:
            if name not in extra:
                raise StackError("project %s: no container carries the label %s=%s and there is no %s: check the "
                                 "project name" % (name, PROJECT_LABEL, name,
                                                   os.path.join(stacks_dir or "<stacks_dir>", name, COMPOSE_FILE)))
            errors.setdefault(name, _extra_project_error(name, extra[name], "declares no service and no container "
                                                         "carries the label %s=%s" % (PROJECT_LABEL, name)))
        spec.working_dir = spec.working_dir or labels.get(WORKING_DIR_LABEL)
        spec.maintenance = bool(maintenance_dir) and os.path.exists(os.path.join(maintenance_dir, name))
        redact = Redactor(secret_values(spec.working_dir))
        seen = set()
        for container in sorted(containers, key=lambda c: (c["Labels"].get(SERVICE_LABEL, ""),
                                                           int(c["Labels"].get(NUMBER_LABEL) or 0))):
            service = container["Labels"].get(SERVICE_LABEL, "?")
            try:
                attrs = api.inspect_container(container["Id"])
            except not_found:
                continue
            if service not in spec.services:
                spec.services[service] = ServiceSpec(
                    name=service, depends_on=depends_on_label(container["Labels"].get(DEPENDS_ON_LABEL)))
            status = status_from_inspect(name, service, attrs, redact)
            status.maintenance = spec.maintenance
            statuses.append(status)
            seen.add(service)
        for service in sorted(set(spec.services) - seen):
            statuses.append(ServiceStatus(project=name, service=service,
                                          container=spec.services[service].container_name,
                                          maintenance=spec.maintenance))
        specs[name] = spec
    return Report(projects=specs, services=sorted(statuses, key=lambda s: (s.project, s.service, s.container or "")),
                  errors=errors)


def summary(statuses: List[ServiceStatus]) -> str:
    """One line per service: ``project/service container: state health [problem]``."""
    lines = []
    for status in statuses:
        text = "%s %s: %s%s" % (status.key, status.container or "-", status.state,
                                " " + status.health if status.state == "running" and status.health != "none" else "")
        if status.problem:
            text += " -- %s" % status.problem
        if status.maintenance:
            text += " [maintenance]"
        lines.append(text)
    return "\n".join(lines) + ("\n" if lines else "")

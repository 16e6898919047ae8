# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory's stacks (``stacks_stacks``) checked and rendered to Compose files, for the role squaremcp.infra.stacks.

Plain Python behind the filters ``stacks_problems``, ``stacks_compose``, ``stacks_secret_files`` and
``stacks_env_files``. Every refusal names the inventory key to fix (``stacks_stacks.<stack>.services.
<service>.<key>``) and never a secret value: secrets arrive as a status per vault key, not as values.

Layout on the host, per stack (``<root>/<stack>/``, root-owned):

* ``compose.yml``            the project, no secret inside
* ``secrets/<secret>``       file secrets, mounted by Compose at ``/run/secrets/<secret>``
* ``secrets/<service>.env``  the env-file secrets of ONE service (0600), for images without ``*_FILE`` support
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

try:
    import yaml
except ImportError:  # pragma: no cover - the controller always has PyYAML (ansible-core needs it)
    yaml = None

STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_LOOKING = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
EDGE_PORTS = (80, 443)
STACK_KEYS = {"services", "networks", "volumes", "secrets", "pull"}
SECRET_KEYS = {"vault", "mode", "owner", "group"}
MANAGED_KEYS = {"image", "container_name", "environment", "env_secrets", "secrets", "ports", "networks", "volumes",
                "depends_on", "healthcheck", "healthcheck_exempt", "labels", "restart"}
# Compose keys copied as they are (after $ escaping).
PASSTHROUGH_KEYS = {"command", "entrypoint", "user", "working_dir", "init", "stop_grace_period", "stop_signal",
                    "read_only", "tmpfs", "cap_add", "cap_drop", "security_opt", "extra_hosts", "expose", "hostname",
                    "shm_size", "ulimits", "logging", "mem_limit", "cpus", "pids_limit", "sysctls"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval"}
PULL_CHOICES = ("always", "missing", "never", "policy")
RESTART_CHOICES = ("no", "always", "on-failure", "unless-stopped")


def _key(stack: str, service: Optional[str] = None, *rest: str) -> str:
    parts = ["stacks_stacks", stack] + (["services", service] if service else []) + list(rest)
    return ".".join(parts)


def image_problem(image: Any) -> Optional[str]:
    """Why ``image`` is not pinned (no tag, ``latest``, a placeholder), or None."""
    if not isinstance(image, str) or not image.strip():
        return "no image: set an image pinned by tag or digest"
    if "PLACEHOLDER" in image:
        return "image %s is a placeholder: put the real image (pinned by tag or digest) in the inventory" % image
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "image %s has no tag: pin it by tag (name:1.2.3) or digest (name@sha256:...)" % image
    if last.rsplit(":", 1)[1] == "latest":
        return "image %s uses the moving tag latest: pin a version tag or a digest" % image
    return None


def parse_port(entry: Any) -> List[Tuple[str, int, str]]:
    """Host bindings (host_ip, host_port, protocol) of one Compose ``ports`` entry; [] for container-only ports.

    Raises ValueError for entries Compose would not understand either.
    """
    if isinstance(entry, dict):
        published = entry.get("published")
        if published in (None, ""):
            return []
        protocol = str(entry.get("protocol") or "tcp")
        return [(str(entry.get("host_ip") or ""), port, protocol) for port in _port_range(str(published))]
    if isinstance(entry, int):
        return []
    text = str(entry).strip()
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.rsplit("/", 1)
    host_ip = ""
    if text.startswith("["):
        host_ip, _sep, text = text[1:].partition("]:")
    parts = text.split(":")
    if len(parts) == 1:
        _port_range(parts[0])
        return []
    if len(parts) == 3:
        host_ip, host, _container = parts
    elif len(parts) == 2:
        host, _container = parts
    else:
        raise ValueError("cannot read %r" % entry)
    _port_range(_container)
    if not host:
        return []
    return [(host_ip, port, protocol) for port in _port_range(host)]


def _port_range(text: str) -> List[int]:
    low, _sep, high = text.partition("-")
    start, end = int(low), int(high or low)
    if not 0 < start <= end <= 65535:
        raise ValueError("port %s is out of range" % text)
    return list(range(start, end + 1))


def _overlap(a: str, b: str) -> bool:
    wildcard = ("", "0.0.0.0", "::")
    return a in wildcard or b in wildcard or a == b


def _services(stack: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    services = stack.get("services") if isinstance(stack, dict) else None
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in (services or {}).items()}


def _depends(service: Dict[str, Any]) -> List[str]:
    value = service.get("depends_on") or []
    return [str(v) for v in (value.keys() if isinstance(value, dict) else value)]


def _has_healthcheck(service: Dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    return isinstance(check, dict) and bool(check.get("test")) and check.get("test") not in ("NONE", ["NONE"]) \
        and not check.get("disable")


def _stack_problems(name: str, stack: Any, vault: Dict[str, str]) -> List[str]:
    problems = []
    if not STACK_NAME.match(name):
        problems.append("%s: %r is not a valid Compose project name: use lower-case letters, digits, - and _"
                        % (_key(name), name))
    if not isinstance(stack, dict):
        return problems + ["%s: must be a mapping with services" % _key(name)]
    for key in sorted(set(stack) - STACK_KEYS):
        problems.append("%s: unknown key %s (known: %s)" % (_key(name), key, ", ".join(sorted(STACK_KEYS))))
    if stack.get("pull") not in (None,) + PULL_CHOICES:
        problems.append("%s: one of %s" % (_key(name, None, "pull"), ", ".join(PULL_CHOICES)))
    services = _services(stack)
    if not services:
        problems.append("%s: no services: list at least one" % _key(name, None, "services"))
    networks = set(stack.get("networks") or [])
    secrets = stack.get("secrets") or {}
    if not isinstance(secrets, dict):
        problems.append("%s: must map secret names to {vault: ...}" % _key(name, None, "secrets"))
        secrets = {}
    for secret, spec in sorted(secrets.items()):
        where = _key(name, None, "secrets", str(secret))
        spec = spec if isinstance(spec, dict) else {}
        for key in sorted(set(spec) - SECRET_KEYS):
            problems.append("%s: unknown key %s (known: %s)" % (where, key, ", ".join(sorted(SECRET_KEYS))))
        vault_var = spec.get("vault")
        status = vault.get(vault_var) if vault_var else None
        if not vault_var:
            problems.append("%s.vault: missing: name the vault variable that holds this secret" % where)
        elif status == "undefined":
            problems.append("%s.vault: the vault does not define %s: add it to the vault (see inventory/production/"
                            "vault.example.yml) or fix the name" % (where, vault_var))
        elif status in ("empty", "placeholder"):
            problems.append("%s.vault: %s is %s in the vault: put the real secret there"
                            % (where, vault_var, "empty" if status == "empty" else "still the CHANGE_ME placeholder"))
    env_secret_uses = {}
    for service_name, service in sorted(services.items()):
        problems += _service_problems(name, service_name, service, services, networks, secrets)
        for variable, secret in sorted((service.get("env_secrets") or {}).items()):
            env_secret_uses.setdefault(secret, []).append((service_name, variable))
    for secret, uses in sorted(env_secret_uses.items()):
        vault_var = (secrets.get(secret) or {}).get("vault")
        if vault.get(vault_var) == "unsafe_for_env":
            service_name, variable = uses[0]
            problems.append("%s: %s holds a newline or a single quote, which an env file cannot carry: use it as a "
                            "file secret (secrets + a *_FILE variable) instead"
                            % (_key(name, service_name, "env_secrets", variable), vault_var))
    return problems


def _service_problems(stack: str, name: str, service: Dict[str, Any], services: Dict[str, Any], networks: set,
                      secrets: Dict[str, Any]) -> List[str]:
    problems = []
    if not SERVICE_NAME.match(name):
        problems.append("%s: %r is not a valid service name" % (_key(stack, name), name))
    for key in sorted(set(service) - MANAGED_KEYS - PASSTHROUGH_KEYS):
        known = ", ".join(sorted(MANAGED_KEYS | PASSTHROUGH_KEYS))
        problems.append("%s: unknown key %s: use one of %s" % (_key(stack, name), key, known))
    why = image_problem(service.get("image"))
    if why:
        problems.append("%s: %s" % (_key(stack, name, "image"), why))
    exempt = service.get("healthcheck_exempt")
    if _has_healthcheck(service):
        for key in sorted(set(service["healthcheck"]) - HEALTHCHECK_KEYS):
            problems.append("%s: unknown key %s" % (_key(stack, name, "healthcheck"), key))
        if exempt:
            problems.append("%s: has both a healthcheck and healthcheck_exempt: drop one"
                            % _key(stack, name))
    elif not (isinstance(exempt, str) and exempt.strip()):
        problems.append("%s: no health check: add %s (test, interval, ...) or, where none is possible, "
                        "healthcheck_exempt with the reason" % (_key(stack, name), _key(stack, name, "healthcheck")))
    if service.get("restart") not in (None,) + RESTART_CHOICES:
        problems.append("%s: one of %s" % (_key(stack, name, "restart"), ", ".join(RESTART_CHOICES)))
    for network in service.get("networks") or []:
        if network != "default" and network not in networks:
            problems.append("%s: network %s is not one of the stack's networks (%s): add it to %s (the host role "
                            "creates it) or use default" % (_key(stack, name, "networks"), network,
                                                            ", ".join(sorted(networks)) or "none",
                                                            _key(stack, None, "networks")))
    for dependency in _depends(service):
        if dependency not in services:
            problems.append("%s: %s is not a service of stack %s" % (_key(stack, name, "depends_on"), dependency, stack))
    for secret in service.get("secrets") or []:
        if secret not in secrets:
            problems.append("%s: secret %s is not declared in %s"
                            % (_key(stack, name, "secrets"), secret, _key(stack, None, "secrets")))
    env_secrets = service.get("env_secrets") or {}
    environment = service.get("environment") or {}
    if not isinstance(environment, dict):
        problems.append("%s: must be a mapping VARIABLE: value" % _key(stack, name, "environment"))
        environment = {}
    for variable, secret in sorted(env_secrets.items()):
        if not ENV_NAME.match(str(variable)):
            problems.append("%s: %r is not a valid variable name" % (_key(stack, name, "env_secrets"), variable))
        if secret not in secrets:
            problems.append("%s: secret %s is not declared in %s"
                            % (_key(stack, name, "env_secrets", str(variable)), secret, _key(stack, None, "secrets")))
        if variable in environment:
            problems.append("%s: %s is also in environment: keep it in one place"
                            % (_key(stack, name, "env_secrets"), variable))
    for variable, value in sorted(environment.items()):
        if SECRET_LOOKING.search(str(variable)) and not str(variable).endswith("_FILE") and value not in (None, ""):
            problems.append("%s: %s looks like a secret in plain environment: put the value in the vault and use "
                            "secrets with %s_FILE, or env_secrets" % (_key(stack, name, "environment"), variable,
                                                                      variable))
    for port in service.get("ports") or []:
        try:
            bindings = parse_port(port)
        except (ValueError, TypeError) as exc:
            problems.append("%s: %r is not a port mapping (%s)" % (_key(stack, name, "ports"), port, exc))
            continue
        for _ip, host_port, _protocol in bindings:
            if host_port in EDGE_PORTS:
                problems.append("%s: host port %d belongs to the edge (Traefik owns 80 and 443): route the service "
                                "through Traefik labels instead of publishing it" % (_key(stack, name, "ports"),
                                                                                     host_port))
    return problems


def problems(stacks: Any, vault: Optional[Dict[str, str]] = None, live: Optional[Dict[str, Any]] = None) -> List[str]:
    """Every reason to refuse ``stacks`` (``stacks_stacks``), as messages naming the key to fix.

    ``vault`` maps each vault key the stacks name to ``ok``, ``undefined``, ``empty``, ``placeholder`` or
    ``unsafe_for_env`` (see :func:`vault_status`). ``live`` (what runs on the host) holds ``networks``
    (names) and ``containers`` (``name``, ``project``, ``ports`` as (ip, port, protocol)); without it the
    checks against the host are left out.
    """
    vault = vault or {}
    if not isinstance(stacks, dict):
        return ["stacks_stacks: must map stack names to stacks"]
    found = []
    for name, stack in sorted(stacks.items()):
        found += _stack_problems(str(name), stack, vault)
    found += _cross_stack_problems(stacks, live)
    return found


def _cross_stack_problems(stacks: Dict[str, Any], live: Optional[Dict[str, Any]]) -> List[str]:
    found = []
    names: Dict[str, str] = {}
    bindings: List[Tuple[str, str, int, str]] = []
    for stack_name, stack in sorted(stacks.items()):
        for service_name, service in sorted(_services(stack).items()):
            where = _key(stack_name, service_name)
            container = service.get("container_name")
            if container:
                if container in names:
                    found.append("%s: container_name %s is also used by %s: container names must be unique on the "
                                 "host" % (_key(stack_name, service_name, "container_name"), container,
                                           names[container]))
                names.setdefault(str(container), where)
            for port in service.get("ports") or []:
                try:
                    for ip, host_port, protocol in parse_port(port):
                        for other, other_ip, other_port, other_protocol in bindings:
                            if (host_port, protocol) == (other_port, other_protocol) and _overlap(ip, other_ip):
                                found.append("%s: host port %d/%s is also claimed by %s: give one of them another "
                                             "port" % (_key(stack_name, service_name, "ports"), host_port, protocol,
                                                       other))
                        bindings.append((where, ip, host_port, protocol))
                except (ValueError, TypeError):
                    continue
    if live is None:
        return found
    existing = set(live.get("networks") or [])
    for stack_name, stack in sorted(stacks.items()):
        for network in (stack.get("networks") or []) if isinstance(stack, dict) else []:
            if network not in existing:
                found.append("%s: network %s does not exist on this host: the host role creates it (add it to "
                             "host_docker_networks and run playbooks/host.yml)" % (_key(stack_name, None, "networks"),
                                                                                   network))
    for container in live.get("containers") or []:
        owner = names.get(container.get("name"))
        if owner and container.get("project") != owner.split(".")[1]:
            found.append("%s: container_name %s is taken by a container %s on this host: rename one of them"
                         % (owner + ".container_name", container["name"],
                            "of project %s" % container["project"] if container.get("project") else "outside Compose"))
        for ip, host_port, protocol in container.get("ports") or []:
            for where, other_ip, other_port, other_protocol in bindings:
                if (host_port, protocol) == (other_port, other_protocol) and _overlap(ip, other_ip) \
                        and container.get("project") != where.split(".")[1]:
                    found.append("%s: host port %d/%s is published by container %s on this host: pick another port"
                                 % (where + ".ports", host_port, protocol, container.get("name")))
    return found


def vault_vars(stacks: Any) -> List[str]:
    """Every vault key the stacks name (for the role's lookup of their status)."""
    keys = set()
    for stack in (stacks or {}).values() if isinstance(stacks, dict) else []:
        for spec in ((stack or {}).get("secrets") or {}).values() if isinstance(stack, dict) else []:
            if isinstance(spec, dict) and spec.get("vault"):
                keys.add(str(spec["vault"]))
    return sorted(keys)


UNDEFINED = "__squaremcp_stacks_undefined__"


def vault_status(value: Any) -> str:
    """ok, undefined (:data:`UNDEFINED`), empty, placeholder or unsafe_for_env (newline, single quote) -- never the value."""
    if value == UNDEFINED:
        return "undefined"
    text = "" if value is None else str(value)
    if not text.strip():
        return "empty"
    if "CHANGE_ME" in text:
        return "placeholder"
    if "\n" in text or "'" in text or "\r" in text:
        return "unsafe_for_env"
    return "ok"


def live_state(networks: Any, containers: Any) -> Dict[str, Any]:
    """``live`` for :func:`problems` from community.docker.docker_host_info (networks, containers with verbose output)."""
    names = [n.get("Name") for n in networks or [] if isinstance(n, dict)]
    found = []
    for container in containers or []:
        labels = container.get("Labels") or {}
        ports = [(str(p.get("IP") or ""), int(p["PublicPort"]), str(p.get("Type") or "tcp"))
                 for p in container.get("Ports") or [] if p.get("PublicPort")]
        for name in container.get("Names") or []:
            found.append({"name": name.lstrip("/"), "project": labels.get("com.docker.compose.project"),
                          "ports": sorted(set(ports))})
    return {"networks": names, "containers": found}


# --- rendering ------------------------------------------------------------------------------------


def escape(value: Any) -> Any:
    """Values reach the container literally: Compose would interpolate ``$``, so it becomes ``$$``."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {str(k): escape(v) for k, v in value.items()}
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def file_secrets(stack: Dict[str, Any]) -> Dict[str, List[str]]:
    """{secret: [services mounting it as a file]} for the secrets some service mounts."""
    used: Dict[str, List[str]] = {}
    for service_name, service in sorted(_services(stack).items()):
        for secret in service.get("secrets") or []:
            used.setdefault(str(secret), []).append(service_name)
    return used


def compose_document(name: str, stack: Dict[str, Any], restart: str = "unless-stopped") -> Dict[str, Any]:
    """The Compose project of one stack (paths relative to its directory)."""
    services = _services(stack)
    document: Dict[str, Any] = {"name": name, "services": {}}
    for service_name, service in sorted(services.items()):
        out: Dict[str, Any] = {"image": service["image"]}
        if service.get("container_name"):
            out["container_name"] = service["container_name"]
        out["restart"] = service.get("restart") or restart
        for key in sorted(PASSTHROUGH_KEYS & set(service)):
            out[key] = escape(service[key])
        if service.get("environment"):
            out["environment"] = {str(k): escape(_scalar(v)) for k, v in sorted(service["environment"].items())}
        if service.get("env_secrets"):
            out["env_file"] = ["./secrets/%s.env" % service_name]
        if service.get("secrets"):
            out["secrets"] = [str(s) for s in service["secrets"]]
        for key in ("ports", "volumes", "networks"):
            if service.get(key):
                out[key] = escape(service[key])
        dependencies = _depends(service)
        if dependencies:
            out["depends_on"] = {dep: {"condition": "service_healthy" if _has_healthcheck(services.get(dep, {}))
                                       else "service_started"} for dep in sorted(dependencies)}
        if _has_healthcheck(service):
            out["healthcheck"] = escape(service["healthcheck"])
        labels = {str(k): _scalar(v) for k, v in sorted((service.get("labels") or {}).items())}
        labels["squaremcp.stack"] = name
        out["labels"] = escape(labels)
        document["services"][service_name] = out
    if stack.get("networks"):
        document["networks"] = {str(n): {"external": True} for n in stack["networks"]}
    volumes = stack.get("volumes") or []
    if volumes:
        document["volumes"] = {str(v): ({} if isinstance(volumes, list) else (volumes[v] or {})) for v in volumes}
    used = file_secrets(stack)
    if used:
        document["secrets"] = {secret: {"file": "./secrets/%s" % secret} for secret in sorted(used)}
    return document


HEADER = "# Managed by squaremcp.infra.stacks (inventory: stacks_stacks.%s). Do not edit here.\n"


def plain(value: Any) -> Any:
    """``value`` with builtin types only (Ansible hands over subclasses of str, dict and list that PyYAML refuses)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def to_yaml(document: Dict[str, Any]) -> str:
    return yaml.safe_dump(plain(document), indent=2, sort_keys=False, default_flow_style=False, width=120,
                          allow_unicode=True)


def render(stacks: Dict[str, Any], root: str, restart: str = "unless-stopped") -> Dict[str, Any]:
    """Everything the role writes, without a secret value: compose documents and their text (and the text
    ``docker compose config`` checks first), file secrets, env files, vault keys."""
    stacks = stacks or {}
    compose = {name: compose_document(name, stack, restart) for name, stack in sorted(stacks.items())}
    return {"compose": compose,
            "compose_text": {name: HEADER % name + to_yaml(doc) for name, doc in compose.items()},
            "check_text": {name: to_yaml(check_document(doc)) for name, doc in compose.items()},
            "secret_files": secret_files(stacks, root), "env_files": env_files(stacks, root),
            "vault_vars": vault_vars(stacks)}


def module_stacks(rendered: Dict[str, Any], values: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The ``stacks`` option of squaremcp.infra.stack_files: ``rendered`` (:func:`render`) with the vault's
    ``values`` filled in (the module takes them as no_log options)."""
    def value(key):
        found = values.get(key)
        return "" if found is None else str(found)

    stacks = []
    for name, text in rendered["compose_text"].items():
        stacks.append({
            "name": name, "compose": text,
            "secret_files": [{"name": f["name"], "content": value(f["vault"]), "services": f["services"],
                              "mode": f["mode"], "owner": f["owner"], "group": f["group"]}
                             for f in rendered["secret_files"] if f["stack"] == name],
            "env_files": [{"service": e["service"],
                           "variables": [{"name": v["name"], "value": value(v["vault"])} for v in e["variables"]]}
                          for e in rendered["env_files"] if e["stack"] == name]})
    return stacks


def check_document(document: Dict[str, Any]) -> Dict[str, Any]:
    """``document`` for ``docker compose config`` BEFORE anything is written: the env files (not there yet on a
    first run, and never copied anywhere for the check) are replaced by the empty /dev/null."""
    checked = dict(document, services={})
    for name, service in document["services"].items():
        checked["services"][name] = dict(service, env_file=["/dev/null"]) if "env_file" in service else service
    return checked


def secret_files(stacks: Dict[str, Any], root: str) -> List[Dict[str, Any]]:
    """One entry per file secret: stack, name, vault, path, mode, owner, group, services (no value)."""
    entries = []
    for stack_name, stack in sorted((stacks or {}).items()):
        declared = stack.get("secrets") or {}
        for secret, services in sorted(file_secrets(stack).items()):
            spec = declared.get(secret) or {}
            entries.append({"stack": stack_name, "name": secret, "vault": spec.get("vault"),
                            "path": "%s/%s/secrets/%s" % (root, stack_name, secret),
                            "mode": str(spec.get("mode") or "0400"), "owner": str(spec.get("owner") or "root"),
                            "group": str(spec.get("group") or "root"), "services": services})
    return entries


def env_files(stacks: Dict[str, Any], root: str) -> List[Dict[str, Any]]:
    """One entry per service with env secrets: stack, service, path, variables ([{name, vault}], no value)."""
    entries = []
    for stack_name, stack in sorted((stacks or {}).items()):
        declared = stack.get("secrets") or {}
        for service_name, service in sorted(_services(stack).items()):
            env_secrets = service.get("env_secrets") or {}
            if env_secrets:
                entries.append({"stack": stack_name, "service": service_name,
                                "path": "%s/%s/secrets/%s.env" % (root, stack_name, service_name),
                                "variables": [{"name": str(variable),
                                               "vault": (declared.get(secret) or {}).get("vault")}
                                              for variable, secret in sorted(env_secrets.items())]})
    return entries

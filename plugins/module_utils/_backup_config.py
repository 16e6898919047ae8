# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup configuration: one JSON file the backup role writes from its variables and that the
timer's entry point, ``restic_backup`` and ``restic_restore`` all read (options defined once).

It holds no secret: repository passwords, SSH keys and cloud credentials are *names* of credential
files, resolved in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``) when set, else in
``credentials_dir`` (root-owned, 0600). Messages name the role variable a bad entry comes from.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

SOURCE_TYPES = ("postgres", "mariadb", "redis", "volume", "path")
DATABASE_TYPES = ("postgres", "mariadb")
CONTAINER_TYPES = ("postgres", "mariadb", "redis")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
CREDENTIAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
SUBSET = re.compile(r"^(\d{1,3}(\.\d+)?%|\d+/\d+|\d+[KMGT]?)$")
URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
DEFAULT_CONFIG = "/etc/squaremcp/backup.json"
REPOSITORIES_VAR = "backup_repositories"
SOURCES_VAR = "backup_sources"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the variable and the fix."""


def redact_url(text: str) -> str:
    """``text`` with the user:password part of every URL replaced (rest: and s3: URLs may carry one)."""
    return URL_USERINFO.sub("***@", text or "")


@dataclass(frozen=True)
class Repository:
    name: str
    url: str
    password: str  # credential name
    env: Dict[str, str] = field(default_factory=dict)  # environment variable -> credential name
    ssh_key: str = ""  # credential name of the private key (sftp: repositories)
    known_hosts: str = ""  # path of the known_hosts file (sftp: repositories)
    ssh_port: int = 22

    @property
    def kind(self) -> str:
        for prefix in ("sftp", "s3", "rest", "b2", "azure", "gs", "swift", "rclone"):
            if self.url.startswith(prefix + ":"):
                return prefix
        return "local"

    @property
    def display(self) -> str:
        return "%s (%s)" % (self.name, redact_url(self.url))

    def credential_names(self) -> List[str]:
        return [self.password] + sorted(self.env.values()) + ([self.ssh_key] if self.ssh_key else [])


@dataclass(frozen=True)
class Source:
    name: str
    type: str
    project: str = ""
    service: str = ""
    databases: Tuple[str, ...] = ()
    user: str = ""
    password_file: str = ""  # path INSIDE the container (a Compose secret), never a value
    volume: str = ""
    path: str = ""
    stop_services: Tuple[str, ...] = ()  # "project/service" stopped while files are restored
    verify: str = ""  # "git": git fsck every bare repository restored

    @property
    def in_container(self) -> bool:
        return self.type in CONTAINER_TYPES

    @property
    def display(self) -> str:
        if self.in_container:
            return "%s (%s %s/%s)" % (self.name, self.type, self.project, self.service)
        return "%s (%s %s)" % (self.name, self.type, self.volume or self.path)


@dataclass(frozen=True)
class Retention:
    last: int = 0
    daily: int = 7
    weekly: int = 4
    monthly: int = 6

    def restic_args(self) -> List[str]:
        args = []
        for period in ("last", "daily", "weekly", "monthly"):
            value = getattr(self, period)
            if value:
                args += ["--keep-%s" % period, str(value)]
        return args


@dataclass(frozen=True)
class Config:
    host: str
    repositories: Tuple[Repository, ...]
    sources: Tuple[Source, ...]
    retention: Retention = Retention()
    check_subset: str = "5%"
    credentials_dir: str = "/etc/squaremcp/backup/credentials"
    state_dir: str = "/var/lib/squaremcp/backup"
    cache_dir: str = "/var/cache/squaremcp-backup"
    metrics_path: str = ""
    lock_timeout: int = 600
    maintenance_dir: str = ""  # the stacks watchdog leaves a project alone while <dir>/<project> exists
    docker: str = "docker"
    restic: str = "restic"
    command_timeout: int = 3600

    def repository(self, name: str) -> Repository:
        for repository in self.repositories:
            if repository.name == name:
                return repository
        raise ConfigError("no repository named %r in %s (known: %s)" % (
            name, REPOSITORIES_VAR, ", ".join(r.name for r in self.repositories)))

    def source(self, name: str) -> Optional[Source]:
        for source in self.sources:
            if source.name == name:
                return source
        return None

    @property
    def lock_path(self) -> str:
        return os.path.join(self.state_dir, "backup.lock")

    def credential_paths(self, name: str) -> List[str]:
        """Where the credential ``name`` may be read, in order: systemd's credentials directory (when the
        service runs with LoadCredential=), then the role's credentials directory."""
        systemd = os.environ.get("CREDENTIALS_DIRECTORY")
        return ([os.path.join(systemd, name)] if systemd else []) + [os.path.join(self.credentials_dir, name)]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _str(entry: dict, key: str, where: str, required: bool = False) -> str:
    value = entry.get(key, "")
    value = "" if value is None else value
    _require(isinstance(value, str), "%s: %s must be a string" % (where, key))
    _require(not required or bool(value.strip()), "%s: %s is required" % (where, key))
    return value.strip()


def _strings(entry: dict, key: str, where: str) -> Tuple[str, ...]:
    value = entry.get(key) or []
    _require(isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value),
             "%s: %s must be a list of non-empty strings" % (where, key))
    return tuple(v.strip() for v in value)


def _int(value, where: str, minimum: int = 0) -> int:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
             "%s must be a whole number >= %d, not %r" % (where, minimum, value))
    return value


def _repository(entry, index: int) -> Repository:
    where = "%s[%d]" % (REPOSITORIES_VAR, index)
    _require(isinstance(entry, dict), "%s must be a mapping with name, url and password" % where)
    unknown = sorted(set(entry) - {"name", "url", "password", "env", "ssh_key", "known_hosts", "ssh_port"})
    _require(not unknown, "%s: unknown key(s) %s" % (where, ", ".join(unknown)))
    name = _str(entry, "name", where, required=True)
    where = "%s %r" % (where, name)
    _require(bool(NAME.match(name)), "%s: name must be lower-case letters, digits, - and _ (it labels the metrics)" % where)
    url = _str(entry, "url", where, required=True)
    password = _str(entry, "password", where, required=True)
    env = entry.get("env") or {}
    _require(isinstance(env, dict), "%s: env must map environment variables to credential names" % where)
    for variable, credential in env.items():
        _require(bool(ENV_NAME.match(str(variable))), "%s: env key %r is not an environment variable name" % (where, variable))
        _require(isinstance(credential, str) and bool(CREDENTIAL.match(credential)),
                 "%s: env %s must name a credential file (letters, digits, . _ -)" % (where, variable))
        _require(not str(variable).startswith("RESTIC_"), "%s: env %s: restic's own settings are not credentials" % (where, variable))
    _require(bool(CREDENTIAL.match(password)), "%s: password must name a credential file (letters, digits, . _ -)" % where)
    repository = Repository(name=name, url=url, password=password, env=dict(env), ssh_key=_str(entry, "ssh_key", where),
                            known_hosts=_str(entry, "known_hosts", where),
                            ssh_port=_int(entry.get("ssh_port", 22), where + ": ssh_port", 1))
    if repository.kind == "sftp":
        _require(bool(re.match(r"^sftp:[^@:/\s]+@[^:\s]+:/\S+$", url)),
                 "%s: an SFTP url is sftp:USER@HOST:/absolute/path" % where)
        _require(bool(repository.ssh_key) and bool(CREDENTIAL.match(repository.ssh_key)),
                 "%s: an SFTP repository needs ssh_key (the credential holding its private key)" % where)
        _require(bool(repository.known_hosts), "%s: an SFTP repository needs known_hosts (the server's host key is "
                                               "checked, never trusted on first use)" % where)
    elif repository.kind == "local":
        _require(url.startswith("/"), "%s: url %r is neither an absolute path nor a restic backend URL "
                                      "(sftp:, s3:, rest:, ...)" % (where, redact_url(url)))
    return repository


def _source(entry, index: int) -> Source:
    where = "%s[%d]" % (SOURCES_VAR, index)
    _require(isinstance(entry, dict), "%s must be a mapping with name and type" % where)
    known = {"name", "type", "project", "service", "databases", "user", "password_file", "volume", "path",
             "stop_services", "verify"}
    unknown = sorted(set(entry) - known)
    _require(not unknown, "%s: unknown key(s) %s" % (where, ", ".join(unknown)))
    name = _str(entry, "name", where, required=True)
    where = "%s %r" % (where, name)
    _require(bool(NAME.match(name)), "%s: name must be lower-case letters, digits, - and _" % where)
    kind = _str(entry, "type", where, required=True)
    _require(kind in SOURCE_TYPES, "%s: type %r is not one of %s" % (where, kind, ", ".join(SOURCE_TYPES)))
    source = Source(name=name, type=kind, project=_str(entry, "project", where), service=_str(entry, "service", where),
                    databases=_strings(entry, "databases", where), user=_str(entry, "user", where),
                    password_file=_str(entry, "password_file", where), volume=_str(entry, "volume", where),
                    path=_str(entry, "path", where), stop_services=_strings(entry, "stop_services", where),
                    verify=_str(entry, "verify", where))
    if source.in_container:
        _require(bool(source.project and source.service),
                 "%s: a %s source names the Compose project and service it runs in (project, service)" % (where, kind))
        _require(not (source.volume or source.path), "%s: volume and path are for volume and path sources" % where)
    if kind == "redis":
        _require(not source.databases, "%s: databases is for postgres and mariadb (Redis is saved whole)" % where)
    if kind == "volume":
        _require(bool(source.volume), "%s: a volume source names the Docker volume (volume)" % where)
    if kind == "path":
        _require(source.path.startswith("/") and ".." not in source.path.split("/") and source.path != "/",
                 "%s: path must be an absolute directory other than /" % where)
    if not source.in_container:
        _require(not (source.project or source.service or source.databases or source.password_file),
                 "%s: project, service, databases and password_file are for database sources" % where)
    for service in source.stop_services:
        _require(bool(re.match(r"^[^/\s]+/[^/\s]+$", service)), "%s: stop_services entries are PROJECT/SERVICE" % where)
    _require(source.verify in ("", "git"), "%s: verify is '' or 'git'" % where)
    _require(not source.password_file or source.password_file.startswith("/"),
             "%s: password_file is an absolute path inside the container (a Compose secret such as "
             "/run/secrets/NAME), never the password itself" % where)
    return source


def parse(data: dict) -> Config:
    """Validate the configuration ``data`` (as the role writes it) into a :class:`Config`."""
    _require(isinstance(data, dict), "the backup configuration must be a JSON object")
    repositories = data.get("repositories")
    _require(isinstance(repositories, list) and len(repositories) > 0,
             "%s is empty: give at least one repository (a local path and an off-host one)" % REPOSITORIES_VAR)
    parsed_repositories = tuple(_repository(entry, index) for index, entry in enumerate(repositories))
    sources = data.get("sources")
    _require(isinstance(sources, list) and len(sources) > 0, "%s is empty: nothing would be backed up" % SOURCES_VAR)
    parsed_sources = tuple(_source(entry, index) for index, entry in enumerate(sources))
    for what, names in ((REPOSITORIES_VAR, [r.name for r in parsed_repositories]), (SOURCES_VAR, [s.name for s in parsed_sources])):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        _require(not duplicates, "%s: the name(s) %s are used twice; names must be unique" % (what, ", ".join(duplicates)))
    retention = data.get("retention") or {}
    _require(isinstance(retention, dict), "backup_retention must be a mapping")
    parsed_retention = Retention(**{period: _int(retention.get(period, getattr(Retention(), period)), "backup_keep_" + period)
                                    for period in ("last", "daily", "weekly", "monthly")})
    _require(parsed_retention.last + parsed_retention.daily + parsed_retention.weekly + parsed_retention.monthly > 0,
             "backup_keep_last, backup_keep_daily, backup_keep_weekly and backup_keep_monthly are all 0: the pruning would "
             "remove every snapshot")
    subset = str(data.get("check_subset", "5%"))
    _require(bool(SUBSET.match(subset)), "backup_check_read_data_subset %r is not a restic subset (5%%, 1/7, 500M)" % subset)
    kwargs = {}
    for key in ("credentials_dir", "state_dir", "cache_dir", "metrics_path", "maintenance_dir", "docker", "restic"):
        if data.get(key) is not None:
            kwargs[key] = _str(data, key, "backup configuration")
    for key in ("lock_timeout", "command_timeout"):
        if data.get(key) is not None:
            kwargs[key] = _int(data[key], "backup configuration: " + key, 1)
    _require(not kwargs.get("metrics_path") or kwargs["metrics_path"].endswith(".prom"),
             "backup_metrics_file must end in .prom (node-exporter's textfile collector reads only those)")
    host = _str(data, "host", "backup configuration") or socket.gethostname()
    return Config(host=host, repositories=parsed_repositories, sources=parsed_sources, retention=parsed_retention,
                  check_subset=subset, **kwargs)


def load(path: str = DEFAULT_CONFIG) -> Config:
    """Read and validate the JSON file at ``path``."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ConfigError("cannot read the backup configuration %s: %s (converge the backup role first)"
                          % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise ConfigError("the backup configuration %s is not valid JSON: %s" % (path, exc)) from None
    try:
        return parse(data)
    except ConfigError as exc:
        raise ConfigError("%s: %s" % (path, exc)) from None

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filter over module_utils/_backup_config.py for the backup role (documented in backup_settings.yml)."""

from __future__ import annotations

import importlib

from typing import Dict, List, Tuple

from ansible.errors import AnsibleFilterError

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils._backup_config"


def _module():
    """module_utils/_backup_config.py, imported when a filter runs: Ansible loads every filter file of the collection in each
    task's worker to find one filter, so an import here would slow down every task that uses any of them."""
    return importlib.import_module(_IMPLEMENTATION)


PLACEHOLDER = "CHANGE_ME"
SETTINGS = ("credentials_dir", "state_dir", "cache_dir", "metrics_path", "maintenance_dir", "lock_timeout",
            "command_timeout", "check_subset", "docker", "restic")


def _secret_problem(value, where: str, what: str, vault: str) -> List[str]:
    if not isinstance(value, str) or not value.strip():
        return ["%s: %s is empty: put it in the vault (%s)" % (where, what, vault)]
    if PLACEHOLDER in value:
        return ["%s: %s is still the CHANGE_ME placeholder of vault.example.yml: put the real value in the vault (%s)"
                % (where, what, vault)]
    return []


def _repository(entry, index: int, known_hosts_dir: str) -> Tuple[dict, Dict[str, str], Dict[str, str], List[str]]:
    """(config entry, credentials name -> value, known_hosts path -> text, problems) of one repository."""
    if not isinstance(entry, dict):
        return {}, {}, {}, ["%s[%d] must be a mapping (name, url, password, ...)" % (_module().REPOSITORIES_VAR, index)]
    name = str(entry.get("name") or "")
    where = "%s[%d] %r" % (_module().REPOSITORIES_VAR, index, name)
    vault = "vault_backup_%s_" % name.replace("-", "_")
    problems = _secret_problem(entry.get("password"), where, "password", vault + "password")
    credentials = {"%s-password" % name: str(entry.get("password") or "")}
    config = {key: entry[key] for key in ("name", "url", "ssh_port") if key in entry}
    config["password"] = "%s-password" % name
    known = {}
    if entry.get("ssh_key") is not None:
        problems += _secret_problem(entry.get("ssh_key"), where, "ssh_key", vault + "ssh_key")
        credentials["%s-ssh-key" % name] = str(entry.get("ssh_key") or "").strip() + "\n"
        config["ssh_key"] = "%s-ssh-key" % name
    if entry.get("known_hosts") is not None:
        text = entry["known_hosts"]
        lines = text if isinstance(text, list) else str(text).splitlines()
        if not [line for line in lines if str(line).strip()]:
            problems.append("%s: known_hosts is empty: give the SFTP server's host key line(s) (ssh-keyscan, checked out "
                            "of band)" % where)
        path = "%s/%s.known_hosts" % (known_hosts_dir, name)
        known[path] = "".join("%s\n" % str(line).strip() for line in lines if str(line).strip())
        config["known_hosts"] = path
    env = entry.get("env") or {}
    if not isinstance(env, dict):
        problems.append("%s: env must map environment variables to their values (from the vault)" % where)
        env = {}
    config["env"] = {}
    for variable in sorted(env):
        problems += _secret_problem(env[variable], where, "env %s" % variable, vault + str(variable).lower())
        credentials["%s-%s" % (name, str(variable).lower().replace("_", "-"))] = str(env[variable] or "")
        config["env"][variable] = "%s-%s" % (name, str(variable).lower().replace("_", "-"))
    unknown = sorted(set(entry) - {"name", "url", "password", "ssh_key", "known_hosts", "ssh_port", "env"})
    if unknown:
        problems.append("%s: unknown key(s) %s" % (where, ", ".join(unknown)))
    return config, credentials, known, problems


def backup_settings(repositories, sources, host, settings=None, retention=None, known_hosts_dir="/etc/squaremcp/backup"):
    """The role's variables as the JSON configuration, the credential files, the known_hosts files and
    the problems (messages name variables, never a secret value)."""
    settings = dict(settings or {})
    if not isinstance(repositories, list) or not repositories:
        return {"config": {}, "credentials": {}, "known_hosts": {}, "problems": [
            "%s is empty: give a local repository and at least one off-host one (SFTP or S3)" % _module().REPOSITORIES_VAR]}
    configs, credentials, known_hosts, problems = [], {}, {}, []
    for index, entry in enumerate(repositories):
        config, secret, known, issues = _repository(entry, index, known_hosts_dir)
        configs.append(config)
        credentials.update(secret)
        known_hosts.update(known)
        problems += issues
    config = {"host": host, "repositories": configs, "sources": sources,
              "retention": dict(retention or {})}
    config.update({key: settings[key] for key in SETTINGS if settings.get(key) not in (None, "")})
    if not problems:
        try:
            parsed = _module().parse(config)
        except _module().ConfigError as exc:
            problems.append(str(exc))
        else:
            if all(repository.kind == "local" for repository in parsed.repositories):
                problems.append("%s has no off-host repository (sftp:, s3:, rest: ...): a backup on the host's own "
                                "disks is lost with the host" % _module().REPOSITORIES_VAR)
    return {"config": config, "credentials": credentials, "known_hosts": known_hosts, "problems": problems}


class FilterModule(object):
    def filters(self):
        def wrapped(*args, **kwargs):
            try:
                return backup_settings(*args, **kwargs)
            except (TypeError, AttributeError, KeyError) as exc:
                raise AnsibleFilterError("backup_settings: unexpected input (%s)" % type(exc).__name__)
        wrapped.__name__ = "backup_settings"
        return {"backup_settings": wrapped}

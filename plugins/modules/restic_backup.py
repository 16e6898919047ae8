#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: restic_backup
short_description: Back up the stacks' databases and data with restic, check or initialise the repositories
version_added: 0.1.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Runs what the C(squaremcp-backup) systemd timer of the C(squaremcp.infra.backup) role runs, from the same JSON
    configuration O(config), written by that role from its variables, so the options are defined once.
  - 'O(operation=backup): consistent dumps taken inside the running containers (PostgreSQL C(pg_dump) per database,
    MariaDB C(mariadb-dump --single-transaction), Redis C(BGSAVE) and its RDB file) are streamed into every repository
    at once (C(restic backup --stdin)): no dump is ever written to the host. Directories and named volumes are backed
    up as files. Each run ends with a manifest per repository (what every snapshot holds, with the row counts and
    digests of every dump) that restores select and verify against. A dump that fails or ends early aborts restic
    before its input ends, so no snapshot of partial data exists.'
  - After a complete run, restic's own retention policy (O(config) C(retention)) decides which complete runs stay;
    whole runs are forgotten and the repository is pruned.
  - O(operation=check) runs C(restic check --read-data-subset); O(operation=init) creates the repositories that do not
    exist yet and never touches one that exists or that cannot be opened (a wrong password is an error, not a reason to
    create a new repository).
  - Backups and checks update the node-exporter textfile metrics named in the configuration, also when they fail.
  - Repository passwords, SSH keys and cloud credentials are read from credential files on the host (or systemd's
    C($CREDENTIALS_DIRECTORY)); no secret is an option of this module, and none appears on a command line or in a result.
options:
  config:
    description: The backup role's JSON configuration on the host.
    type: path
    default: /etc/squaremcp/backup.json
  operation:
    description: What to do.
    type: str
    choices: [backup, check, init]
    default: backup
  sources:
    description: Back up only these sources (names from the configuration); all when empty. Only for O(operation=backup).
    type: list
    elements: str
    default: []
  repositories:
    description: Only these repositories (names from the configuration); all when empty.
    type: list
    elements: str
    default: []
  reopen_after:
    description:
      - Only for O(operation=init). Opening a repository costs restic's key derivation (about half a second of CPU
        each), so the module records every repository it opened or created, in C(opened.json) of the configuration's
        C(state_dir), with the identity (inode, size, modification time) of the configuration file and of the
        repository's credential and C(known_hosts) files. A repository recorded less than this many seconds ago, with
        none of these files changed since, is taken as existing and not opened again; the nightly backup and the
        weekly check open it anyway.
      - V(0) opens every repository on every run. The record holds no URL, password, key or hash of one.
    type: int
    default: 86400
attributes:
  check_mode:
    support: full
    description: Lists what would be backed up, checked or initialised; nothing is read from the databases or written.
  diff_mode:
    support: partial
    description: The repositories that would be initialised, or the run that would be added.
  platform:
    support: full
    platforms: posix
    description: Runs on the Docker host as root (it reads Docker volumes and talks to the Docker daemon).
requirements:
  - restic (Debian package C(restic))
  - the docker CLI
  - prometheus_client for the metrics (Debian C(python3-prometheus-client))
seealso:
  - module: squaremcp.infra.restic_restore
"""

EXAMPLES = r"""
- name: Back up now (what the timer does)
  squaremcp.infra.restic_backup:
  register: backup

- name: Back up only the FetcherPay databases to the off-site repository
  squaremcp.infra.restic_backup:
    sources: [fetcherpay-postgres, fetcherpay-mysql]
    repositories: [offsite]

- name: Create the repositories that do not exist yet
  squaremcp.infra.restic_backup:
    operation: init
"""

RETURN = r"""
run:
  description: Id of the run (its UTC start); every snapshot of the run carries the tag C(run=<id>).
  returned: backup
  type: str
  sample: 20261203T031500Z
duration:
  description: Seconds the run took.
  returned: always
  type: float
bytes:
  description: Bytes read from the sources (dumps and files) by the run.
  returned: backup
  type: int
repositories:
  description: Per repository, what happened.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Repository name.
      type: str
    display:
      description: Name and URL (user information redacted).
      type: str
    error:
      description: Why it failed (what to do); empty when it did not.
      type: str
    manifest:
      description: Snapshot id of the run's manifest in this repository.
      type: str
    complete:
      description: Every source is in this repository (backup), or the repository exists (init).
      type: bool
    forgotten:
      description: Snapshots the retention forgot after this run.
      type: int
    check:
      description: Result of C(restic check) (check only).
      type: bool
items:
  description: One entry per database, Redis instance or directory backed up.
  returned: backup
  type: list
  elements: dict
  contains:
    source:
      description: Source name.
      type: str
    database:
      description: Database name (empty for Redis and directories).
      type: str
    snapshots:
      description: Repository name -> snapshot id.
      type: dict
    error:
      description: Why the source could not be backed up (then no snapshot of it exists in any repository).
      type: str
    errors:
      description: Repository name -> why that repository did not take it.
      type: dict
    bytes:
      description: Size of the dump or of the directory's files.
      type: int
    fingerprint:
      description: Table (or Redis database) -> [rows, digest] of the dump.
      type: dict
report:
  description: The run's report (what the timer prints to the journal).
  returned: always
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup as backup
from ansible_collections.squaremcp.infra.plugins.module_utils._redact import redact_text
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_metrics import (
    HAS_PROMETHEUS_CLIENT, PROMETHEUS_CLIENT_IMPORT_ERROR)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path", default="/etc/squaremcp/backup.json"),
            operation=dict(type="str", choices=["backup", "check", "init"], default="backup"),
            sources=dict(type="list", elements="str", default=[]),
            repositories=dict(type="list", elements="str", default=[]),
            reopen_after=dict(type="int", default=86400),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["operation"] != "init" and not HAS_PROMETHEUS_CLIENT:
        module.fail_json(msg=missing_required_lib("prometheus_client (Debian: python3-prometheus-client)"),
                         exception=PROMETHEUS_CLIENT_IMPORT_ERROR)
    if params["reopen_after"] < 0:
        module.fail_json(msg="reopen_after is %d: give 0 (open every repository) or a number of seconds"
                         % params["reopen_after"])
    try:
        config = backup.load_config(params["config"])
        unknown = sorted(set(params["repositories"]) - {r.name for r in config.repositories})
        if unknown:
            module.fail_json(msg="no repository named %s in backup_repositories (known: %s)" % (
                ", ".join(unknown), ", ".join(r.name for r in config.repositories)))
        if params["operation"] == "init":
            outcome = backup.init_repositories(module, config, config_path=params["config"],
                                               reopen_after=params["reopen_after"])
        elif params["operation"] == "check":
            outcome = backup.run_check(module, config, repositories=params["repositories"] or None)
        else:
            outcome = backup.run_backup(module, config, sources=params["sources"] or None,
                                        repositories=params["repositories"] or None)
    except backup.BackupError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except Exception as exc:  # a bug must say where it is, not only "MODULE FAILURE"
        module.fail_json(msg="unexpected %s: %s" % (type(exc).__name__, redact_text(str(exc))),
                         exception=redact_text(traceback.format_exc()))  # an exception may quote a URL or a password
    result = outcome.as_dict()
    for key in ("operation", "started", "warnings", "failed"):
        result.pop(key, None)
    if params["operation"] == "init":
        for key in ("run", "items", "bytes"):
            result.pop(key, None)
    if module._diff and outcome.changed:
        created = [r.name for r in outcome.repositories if r.warnings]
        result["diff"] = {"before": "", "after": "repositories initialised: %s\n" % ", ".join(created)
                          if params["operation"] == "init" else "run %s\n" % (outcome.run or "(new)")}
    for warning in outcome.warnings:
        module.warn(warning)
    if outcome.failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: restic_restore
short_description: Restore a backup run of M(squaremcp.infra.restic_backup) into the running stacks and verify it
version_added: 0.1.0
author:
  - SquareMCP platform team (@squaremcp)
description:
  - Chooses a run in one repository (O(snapshot), the newest complete run by default), reads its manifest and
    restores every item into its place on this host, as the backup role's configuration O(config) describes it
    databases into the running Compose services (PostgreSQL in one transaction, MariaDB, Redis by putting its RDB in
    place and restarting it), directories and named volumes by swapping their content (the containers using them are
    stopped meanwhile).
  - 'Before anything changes, every target is compared with the manifest: V(empty) (no rows, keys or files) is
    restored, V(equal) (same rows and digests per table, same keys, same file listing) is left alone, so a second run
    changes nothing; V(differs) means the host holds data the snapshot does not (newer data): the whole restore is
    refused unless O(force=true). With O(force=true) the current data of those sources is first backed up to the same
    repository (a run tagged C(pre-restore)), and nothing is replaced unless that succeeded.'
  - A stack that is down, a container or volume that is missing, a repository that cannot be opened or a snapshot that
    does not exist stops the restore before any change.
  - Every restored item is verified (rows and digests equal to the manifest's, Redis keys, the snapshot's file listing,
    C(git fsck --full) of every bare repository for sources with C(verify=git)); an item that fails verification fails
    the task.
options:
  config:
    description: The backup role's JSON configuration on the host.
    type: path
    default: /etc/squaremcp/backup.json
  repository:
    description: Name of the repository (from the configuration) to restore from.
    type: str
    required: true
  snapshot:
    description:
      - V(latest) (the newest complete run), a run id such as V(20261203T031500Z), or the id (8 or more hex digits) of
        the run's manifest or of any snapshot of the run.
    type: str
    default: latest
  sources:
    description: Restore only these sources of the run; all when empty.
    type: list
    elements: str
    default: []
  force:
    description: Restore over data the snapshot does not hold (after backing it up to the repository, tag C(pre-restore)).
    type: bool
    default: false
  host:
    description: Restore the runs of this host name (the restic C(--host) of the backup); default the configuration's.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Inspects every target and reports what would be restored, left alone or refused; changes nothing.
  diff_mode:
    support: partial
    description: One line per item with what was found and what is done.
  platform:
    support: full
    platforms: posix
    description: Runs on the Docker host as root.
requirements:
  - restic (Debian package C(restic)), the docker CLI, git for C(verify=git)
seealso:
  - module: squaremcp.infra.restic_backup
"""

EXAMPLES = r"""
- name: List what the newest complete run of the off-site repository would restore
  squaremcp.infra.restic_restore:
    repository: offsite
  check_mode: true

- name: Restore that run and verify it
  squaremcp.infra.restic_restore:
    repository: offsite
  register: restore

- name: Put one database back as it was in a given run, over newer data
  squaremcp.infra.restic_restore:
    repository: local
    snapshot: 20261201T031500Z
    sources: [fetcherpay-postgres]
    force: true
"""

RETURN = r"""
run:
  description: Id of the restored run.
  returned: when a run was selected
  type: str
  sample: 20261203T031500Z
manifest:
  description: Snapshot id of the run's manifest.
  returned: when a run was selected
  type: str
snapshot_time:
  description: When the run was taken (UTC).
  returned: when a run was selected
  type: str
complete:
  description: Whether the run is complete (a partial run is restored with a warning).
  returned: when a run was selected
  type: bool
safety_run:
  description: Id of the C(pre-restore) run holding the data a forced restore replaced.
  returned: always
  type: str
items:
  description: One entry per database, Redis instance or directory of the run.
  returned: when a run was selected
  type: list
  elements: dict
  contains:
    source:
      description: Source name.
      type: str
    database:
      description: Database name (empty for Redis and directories).
      type: str
    target:
      description: The container or directory restored into.
      type: str
    state:
      description: What was found before the restore.
      type: str
      choices: [empty, equal, differs]
    differences:
      description: For V(differs), what the host holds that the snapshot does not.
      type: list
      elements: str
    action:
      description: What was (or, in check mode, would be) done.
      type: str
      choices: [restored, unchanged, would restore, refused, held back, failed]
    rows:
      description: Table (or Redis database) -> rows (keys) in the snapshot.
      type: dict
    verified:
      description: Whether the restored (or unchanged) data was proven equal to the snapshot.
      type: bool
    verification:
      description: What was checked.
      type: list
      elements: str
duration:
  description: Seconds the restore took.
  returned: always
  type: float
report:
  description: The restore as a Markdown report (what playbooks/runbooks/restore.yml writes).
  returned: always
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.squaremcp.infra.plugins.module_utils._imports import forget_failed_imports

forget_failed_imports()  # Mitogen: see a library an earlier task of this run installed (module_utils/_imports.py)

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup as backup
from ansible_collections.squaremcp.infra.plugins.module_utils._redact import redact_text
from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_restore as restore
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import ConfigError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path", default="/etc/squaremcp/backup.json"),
            repository=dict(type="str", required=True),
            snapshot=dict(type="str", default="latest"),
            sources=dict(type="list", elements="str", default=[]),
            force=dict(type="bool", default=False),
            host=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    params = module.params
    outcome = None
    try:
        config = backup.load_config(params["config"])
        outcome = restore.run_restore(module, config, params["repository"], snapshot=params["snapshot"],
                                      sources=params["sources"] or None, force=params["force"], host=params["host"])
    except (backup.BackupError, restore.RestoreError, ConfigError) as exc:
        module.fail_json(msg=str(exc), changed=False, safety_run="", duration=0.0, report="")
    except Exception as exc:  # a bug must say where it is, not only "MODULE FAILURE"
        module.fail_json(msg="unexpected %s: %s" % (type(exc).__name__, redact_text(str(exc))),
                         exception=redact_text(traceback.format_exc()))  # an exception may quote a URL or a password
    result = outcome.as_dict()
    for key in ("failed", "warnings"):
        result.pop(key)
    result["report"] = restore.render_markdown(outcome)
    if module._diff:
        result["diff"] = {
            "before": "".join("%s: %s\n" % (i.label, i.state) for i in outcome.items),
            "after": "".join("%s: %s\n" % (i.label, i.action) for i in outcome.items),
            "before_header": "found", "after_header": "run %s" % outcome.run}
    for warning in outcome.warnings:
        module.warn(warning)
    if outcome.failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up, check or initialise the restic repositories without Ansible (the systemd services).

The role installs this file beside a copy of the collection's backup module_utils under
``lib/ansible_collections/squaremcp/infra/plugins/module_utils/``; the work is done by
``_backup.run_backup`` / ``run_check`` -- the code ``squaremcp.infra.restic_backup`` runs.

  squaremcp_backup.py [--config FILE] [--metrics-path FILE] backup|check|init   (default: backup)
  squaremcp_backup.py --config FILE --validate            (the role's validate: before it installs FILE)

Credentials come from ``$CREDENTIALS_DIRECTORY`` (LoadCredential=) when systemd provides it.
Exit codes: 0 done; 1 the run failed for at least one repository or source (metrics say which);
2 the run could not start (configuration, lock). Every backup run leaves metrics: one whose configuration
cannot be read updates last_run of the repositories already in ``--metrics-path``.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

# pylint: disable=wrong-import-position
from ansible_collections.squaremcp.infra.plugins.module_utils import _backup as backup  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import DEFAULT_CONFIG  # noqa: E402
from ansible_collections.squaremcp.infra.plugins.module_utils._files import ProcessFileOps  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("operation", nargs="?", default="backup", choices=["backup", "check", "init"])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="the backup role's JSON configuration")
    parser.add_argument("--validate", action="store_true", help="only validate the configuration file")
    parser.add_argument("--metrics-path", help="where a backup whose configuration cannot be read records its run")
    args = parser.parse_args(argv)
    try:
        config = backup.load_config(args.config)
    except backup.BackupError as exc:
        print("squaremcp-backup: %s" % exc, file=sys.stderr)
        if args.operation == "backup" and not args.validate and args.metrics_path:
            problem = backup.record_unconfigured_run(ProcessFileOps(), args.metrics_path)
            if problem:
                print("squaremcp-backup: %s" % problem, file=sys.stderr)
        return 2
    if args.validate:
        print("%s: valid (%d repositories, %d sources)" % (args.config, len(config.repositories), len(config.sources)))
        return 0
    files = ProcessFileOps()
    try:
        if args.operation == "init":
            outcome = backup.init_repositories(files, config)
            print(outcome.msg)
            return 1 if outcome.failed else 0
        operation = backup.run_check if args.operation == "check" else backup.run_backup
        outcome = operation(files, config)
    except backup.BackupError as exc:
        print("squaremcp-backup: %s" % exc, file=sys.stderr)
        if args.operation == "backup":
            problem = backup.record_start_failure(files, config, str(exc))
            if problem:
                print("squaremcp-backup: %s" % problem, file=sys.stderr)
        return 2
    sys.stdout.write(outcome.report)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())

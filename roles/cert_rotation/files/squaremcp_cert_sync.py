# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run squaremcp.infra.traefik_cert_sync on the edge host without Ansible (the systemd service).

The role installs this file beside a copy of the collection's module_utils under
``lib/ansible_collections/squaremcp/infra/plugins/module_utils/``; the sync itself is ``certs.run``
-- the very code the module runs -- with the plain-process file operations of ``_files.py``
(:class:`ProcessFileOps`) instead of an AnsibleModule. This file reads and checks the configuration
against the module's own option set (``certs.ARGUMENT_SPEC``) and turns the outcome into a journal
report and an exit code.

Configuration: a JSON file whose keys are the module's option names.
Exit codes: 0 synced; 1 the sync failed, refused a certificate or found one expiring
(on_expiring=fail); 2 the run could not start (configuration, lock, unreadable state). Every run
except ``--check``/``--validate`` leaves metrics: a run that cannot start writes ``failed 1`` to the
configuration's metrics_path, or to ``--metrics-path`` when the configuration itself is unreadable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from ansible_collections.squaremcp.infra.plugins.module_utils import certs  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.squaremcp.infra.plugins.module_utils._files import ProcessFileOps  # noqa: E402  pylint: disable=wrong-import-position


def load_config(path):
    """The module options from ``path`` (JSON), checked against the module's argument spec and Options."""
    with open(path) as handle:
        params = json.load(handle)
    params = certs.check_params(params, path)
    try:
        certs.Options(params)
    except (TypeError, ValueError) as exc:
        raise certs.SyncError("%s: %s" % (path, exc)) from None
    return params


def _raw_config(path):
    """What the configuration file holds, as far as it can be read ({} otherwise)."""
    try:
        with open(path) as handle:
            raw = json.load(handle)
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="/etc/squaremcp/cert-sync.json", help="JSON file with the module's options")
    parser.add_argument("--check", action="store_true", help="compute and report, write nothing")
    parser.add_argument("--validate", action="store_true", help="only validate the configuration file")
    parser.add_argument("--metrics-path", help="where a run whose configuration cannot be read writes failed metrics")
    args = parser.parse_args(argv)
    files = ProcessFileOps(check_mode=args.check or args.validate)
    params = {}
    try:
        params = load_config(args.config)
    except (OSError, ValueError, certs.SyncError) as exc:
        print("squaremcp-cert-sync: %s" % exc, file=sys.stderr)
        raw = _raw_config(args.config)
        known = {key: raw[key] if isinstance(raw.get(key), str) else None for key in ("metrics_path", "report_path")}
        known["metrics_path"] = known["metrics_path"] or args.metrics_path
        certs.record_failure(files, known, str(exc))
        return 2
    if args.validate:
        print("%s: valid" % args.config)
        return 0
    try:
        outcome = certs.run(files, params, certs.source_reader(params))  # records its own failures
    except certs.SyncError as exc:
        print("squaremcp-cert-sync: %s" % exc, file=sys.stderr)
        return 2
    sys.stdout.write(outcome["report"])
    for warning in outcome["warnings"]:
        print("warning: %s" % warning, file=sys.stderr)
    return 1 if outcome["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run squaremcp.infra.traefik_cert_sync on the edge host without Ansible (the systemd service).

The role installs this file beside a copy of the collection's module_utils (certs.py, io.py, _host_files.py,
k8s.py) under ``lib/ansible_collections/squaremcp/infra/plugins/module_utils/``; the sync itself is
``certs.run`` -- the very code the module runs. This file only takes the few file primitives io.py
needs from ``_host_files.HostFiles`` (the stand-in for ``AnsibleModule``) and turns the outcome
into a journal report and an exit code.

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
from ansible_collections.squaremcp.infra.plugins.module_utils._host_files import HostFiles  # noqa: E402  pylint: disable=wrong-import-position


def load_config(path):
    """The module options from ``path`` (JSON); ``certs.Options`` validates them."""
    with open(path) as handle:
        params = json.load(handle)
    if not isinstance(params, dict) or not params.get("dest_dir"):
        raise certs.SyncError("%s must be a JSON object with at least dest_dir" % path)
    return params


def validate(path, params):
    if params.get("source", "kubernetes") == "directory" and not params.get("source_dir"):
        raise certs.SyncError("%s: source=directory needs source_dir" % path)
    try:
        certs.Options(params)
    except (TypeError, ValueError) as exc:
        raise certs.SyncError("%s: %s" % (path, exc))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="/etc/squaremcp/cert-sync.json", help="JSON file with the module's options")
    parser.add_argument("--check", action="store_true", help="compute and report, write nothing")
    parser.add_argument("--validate", action="store_true", help="only validate the configuration file")
    parser.add_argument("--metrics-path", help="where a run whose configuration cannot be read writes failed metrics")
    args = parser.parse_args(argv)
    files = HostFiles(check_mode=args.check or args.validate)
    params = {}
    try:
        params = load_config(args.config)
        validate(args.config, params)
    except (OSError, ValueError, certs.SyncError) as exc:
        print("squaremcp-cert-sync: %s" % exc, file=sys.stderr)
        known = dict(params, metrics_path=params.get("metrics_path") or args.metrics_path)
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

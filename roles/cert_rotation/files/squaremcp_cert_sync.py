# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run squaremcp.infra.traefik_cert_sync on the edge host without Ansible (the systemd service).

The role installs this file beside a copy of the collection's module_utils (certs.py, io.py,
k8s.py) under ``lib/ansible_collections/squaremcp/infra/plugins/module_utils/``; the sync itself is
``certs.run`` -- the very code the module runs. This file only supplies the few file primitives
io.py takes from ``AnsibleModule`` (the collection's only such stand-in; tests/unit/
test_cert_rotation_hostfiles.py holds it to AnsibleModule's behaviour) and turns the outcome into
a journal report and an exit code.

Configuration: a JSON file whose keys are the module's option names.
Exit codes: 0 synced; 1 the sync failed, refused a certificate or found one expiring
(on_expiring=fail); 2 the run could not start (configuration, lock, unreadable state). Every run
except ``--check``/``--validate`` leaves metrics: a run that cannot start writes ``failed 1`` to the
configuration's metrics_path, or to ``--metrics-path`` when the configuration itself is unreadable.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from ansible_collections.squaremcp.infra.plugins.module_utils import certs  # noqa: E402  pylint: disable=wrong-import-position


class HostFiles(object):
    """The part of ``AnsibleModule`` that module_utils/io.py uses, for a plain Python process."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def atomic_move(self, src, dest, unsafe_writes=False):
        """Rename ``src`` over ``dest``, keeping an existing destination's owner and mode."""
        try:
            st = os.stat(dest)
        except FileNotFoundError:
            st = None
        if st is not None:
            os.chown(src, st.st_uid, st.st_gid)
            os.chmod(src, st.st_mode & 0o7777)
        os.rename(src, dest)
        directory = os.open(os.path.dirname(os.path.abspath(dest)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def load_file_common_arguments(self, params, path=None):
        """No SELinux handling on the edge host: owner, group and mode only."""
        return dict(params)

    @staticmethod
    def _symbolic_mode_to_octal(path_stat, symbolic_mode):
        """The sync only ever asks for octal modes; io.py reports this as an invalid mode."""
        raise ValueError("symbolic modes need Ansible; give an octal mode such as '0600'")

    def set_fs_attributes_if_different(self, file_args, changed, diff=None, expand=True):
        path = file_args["path"]
        st = os.stat(path)
        mode = file_args.get("mode")
        if mode is not None:
            mode = int(mode, 8) if isinstance(mode, str) else mode
            if st.st_mode & 0o7777 != mode:
                os.chmod(path, mode)
                changed = True
        uid = _id(file_args.get("owner"), pwd.getpwnam, "pw_uid")
        gid = _id(file_args.get("group"), grp.getgrnam, "gr_gid")
        if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            changed = True
        return changed


def _id(name, lookup, attr):
    if name is None:
        return None
    try:
        return int(name)
    except ValueError:
        return getattr(lookup(name), attr)


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

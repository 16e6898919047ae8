# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The file primitives module_utils/io.py takes from ``AnsibleModule``, for a plain Python process
(the timers' entry points: cert rotation, backup). tests/unit/test_cert_rotation_hostfiles.py holds
it to AnsibleModule's behaviour."""

from __future__ import annotations

import grp
import os
import pwd


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

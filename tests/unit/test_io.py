# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/io.py against a real AnsibleModule on a temporary directory."""

from __future__ import annotations

import os

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import io


def make_module(check_mode=False):
    with patch_module_args({"_ansible_check_mode": check_mode}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


@pytest.fixture
def module():
    return make_module()


def write(path, data, mode=0o644):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def leftovers(directory):
    return [name for name in os.listdir(directory) if name.endswith(".tmp")]


def test_new_file_is_written_with_the_requested_mode(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    changed, backup = io.write_file(module, path, b"a: 1\n", mode="0640")
    assert (changed, backup) == (True, None)
    assert read(path) == b"a: 1\n"
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert leftovers(str(tmp_path)) == []


def test_rewrite_keeps_mode_and_owner_of_the_existing_file(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"old\n", 0o640)
    os.chown(path, 1234, 4321)
    inode = os.stat(path).st_ino
    changed, _backup = io.write_file(module, path, b"new\n")
    st = os.stat(path)
    assert changed and read(path) == b"new\n"
    assert st.st_ino != inode, "the content must arrive by rename, not by rewriting the old inode"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 4321)


def test_identical_content_is_not_rewritten(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"same\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    before = os.stat(path)
    changed, backup = io.write_file(module, path, b"same\n", backup=True)
    after = os.stat(path)
    assert (changed, backup) == (False, None)
    assert (after.st_mtime, after.st_ino) == (before.st_mtime, before.st_ino)
    assert os.listdir(str(tmp_path)) == ["routes.yml"]


def test_identical_content_with_other_mode_only_fixes_the_mode(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"same\n", 0o600)
    inode = os.stat(path).st_ino
    changed, _backup = io.write_file(module, path, b"same\n", mode="0644")
    assert changed
    assert os.stat(path).st_ino == inode
    assert os.stat(path).st_mode & 0o7777 == 0o644


def test_backup_keeps_the_previous_content(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"v1\n")
    changed, backup = io.write_file(module, path, b"v2\n", backup=True)
    assert changed and backup and os.path.dirname(backup) == str(tmp_path)
    assert read(backup) == b"v1\n" and read(path) == b"v2\n"


def test_check_mode_writes_nothing(tmp_path):
    module = make_module(check_mode=True)
    existing, new = str(tmp_path / "existing.yml"), str(tmp_path / "new.yml")
    write(existing, b"old\n", 0o600)
    assert io.write_file(module, existing, b"changed\n", mode="0644", backup=True) == (True, None)
    assert io.write_file(module, new, b"x\n") == (True, None)
    assert io.write_file(module, existing, b"old\n", mode="0644")[0] is True, "a mode change is a change"
    assert io.write_file(module, existing, b"old\n", mode="0600")[0] is False
    assert read(existing) == b"old\n" and os.stat(existing).st_mode & 0o7777 == 0o600
    assert sorted(os.listdir(str(tmp_path))) == ["existing.yml"]


def test_failure_while_staging_leaves_every_file_untouched(module, tmp_path, monkeypatch):
    first, second = str(tmp_path / "a.yml"), str(tmp_path / "b.yml")
    write(first, b"a-old\n")
    write(second, b"b-old\n")
    calls = []
    real_fsync = os.fsync

    def fsync_failing_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(io.os, "fsync", fsync_failing_on_second)
    with pytest.raises(io.FileError, match="No space left on device"):
        io.write_files(module, [{"path": first, "content": b"a-new\n"}, {"path": second, "content": b"b-new\n"}])
    assert (read(first), read(second)) == (b"a-old\n", b"b-old\n")
    assert leftovers(str(tmp_path)) == []


def test_missing_directory_is_a_clear_error(module, tmp_path):
    with pytest.raises(io.FileError, match="does not exist: create it first"):
        io.write_file(module, str(tmp_path / "nope" / "routes.yml"), b"x\n")


@pytest.mark.parametrize("mode, exposed", [("0600", False), ("0644", True)])
def test_private_file_is_never_readable_by_others(module, tmp_path, monkeypatch, mode, exposed):
    """Right after the rename (before owner/mode are applied) a new 0600 file must not be world-readable;
    the 0644 case shows that the probe does see group/other bits when they are there."""
    path = str(tmp_path / "key.pem")
    seen = []
    real_move = module.atomic_move

    def probing_move(src, dest, unsafe_writes=False, **kwargs):
        real_move(src, dest, unsafe_writes=unsafe_writes, **kwargs)
        seen.append(os.stat(dest).st_mode & 0o077)

    monkeypatch.setattr(module, "atomic_move", probing_move)
    previous = os.umask(0o022)
    try:
        io.write_file(module, path, b"secret\n", mode=mode)
    finally:
        os.umask(previous)
    assert len(seen) == 1
    assert bool(seen[0]) is exposed
    assert os.stat(path).st_mode & 0o7777 == int(mode, 8)


def test_remove_files_honours_check_mode(tmp_path):
    path = str(tmp_path / "old.yml")
    write(path, b"x\n")
    assert io.remove_files(make_module(check_mode=True), [path, str(tmp_path / "missing")]) == [path]
    assert os.path.exists(path)
    assert io.remove_files(make_module(), [path]) == [path]
    assert not os.path.exists(path)


def test_file_lock_times_out_with_the_holder(tmp_path):
    lock_path = str(tmp_path / "run.lock")
    with io.FileLock(lock_path):
        with pytest.raises(io.LockTimeout, match="pid %d" % os.getpid()):
            io.FileLock(lock_path, timeout=0.2, poll=0.05).acquire()
    with io.FileLock(lock_path, timeout=0.2):
        pass

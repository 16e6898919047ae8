# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_files.py against a real AnsibleModule on a temporary directory."""

from __future__ import annotations

import os

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import _files


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
    changed, backup = _files.write_file(module, path, b"a: 1\n", mode="0640")
    assert (changed, backup) == (True, None)
    assert read(path) == b"a: 1\n"
    assert os.stat(path).st_mode & 0o7777 == 0o640
    assert leftovers(str(tmp_path)) == []


def test_rewrite_keeps_mode_and_owner_of_the_existing_file(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"old\n", 0o640)
    os.chown(path, 1234, 4321)
    inode = os.stat(path).st_ino
    changed, _backup = _files.write_file(module, path, b"new\n")
    st = os.stat(path)
    assert changed and read(path) == b"new\n"
    assert st.st_ino != inode, "the content must arrive by rename, not by rewriting the old inode"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 4321)


def test_identical_content_is_not_rewritten(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"same\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    before = os.stat(path)
    changed, backup = _files.write_file(module, path, b"same\n", backup=True)
    after = os.stat(path)
    assert (changed, backup) == (False, None)
    assert (after.st_mtime, after.st_ino) == (before.st_mtime, before.st_ino)
    assert os.listdir(str(tmp_path)) == ["routes.yml"]


def test_identical_content_with_other_mode_only_fixes_the_mode(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"same\n", 0o600)
    inode = os.stat(path).st_ino
    changed, _backup = _files.write_file(module, path, b"same\n", mode="0644")
    assert changed
    assert os.stat(path).st_ino == inode
    assert os.stat(path).st_mode & 0o7777 == 0o644


def test_backup_keeps_the_previous_content(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"v1\n")
    changed, backup = _files.write_file(module, path, b"v2\n", backup=True)
    assert changed and backup and os.path.dirname(backup) == str(tmp_path)
    assert read(backup) == b"v1\n" and read(path) == b"v2\n"


def test_check_mode_writes_nothing(tmp_path):
    module = make_module(check_mode=True)
    existing, new = str(tmp_path / "existing.yml"), str(tmp_path / "new.yml")
    write(existing, b"old\n", 0o600)
    assert _files.write_file(module, existing, b"changed\n", mode="0644", backup=True) == (True, None)
    assert _files.write_file(module, new, b"x\n") == (True, None)
    assert _files.write_file(module, existing, b"old\n", mode="0644")[0] is True, "a mode change is a change"
    assert _files.write_file(module, existing, b"old\n", mode="0600")[0] is False
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

    monkeypatch.setattr(_files.os, "fsync", fsync_failing_on_second)
    with pytest.raises(_files.FileError, match="No space left on device"):
        _files.write_files(module, [{"path": first, "content": b"a-new\n"}, {"path": second, "content": b"b-new\n"}])
    assert (read(first), read(second)) == (b"a-old\n", b"b-old\n")
    assert leftovers(str(tmp_path)) == []


def test_missing_directory_is_a_clear_error(module, tmp_path):
    with pytest.raises(_files.FileError, match="does not exist: create it first"):
        _files.write_file(module, str(tmp_path / "nope" / "routes.yml"), b"x\n")


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
        _files.write_file(module, path, b"secret\n", mode=mode)
    finally:
        os.umask(previous)
    assert len(seen) == 1
    assert bool(seen[0]) is exposed
    assert os.stat(path).st_mode & 0o7777 == int(mode, 8)


def test_remove_files_honours_check_mode(tmp_path):
    path = str(tmp_path / "old.yml")
    write(path, b"x\n")
    assert _files.remove_files(make_module(check_mode=True), [path, str(tmp_path / "missing")]) == [path]
    assert os.path.exists(path)
    assert _files.remove_files(make_module(), [path]) == [path]
    assert not os.path.exists(path)


def test_file_lock_times_out_with_the_holder(tmp_path):
    lock_path = str(tmp_path / "run.lock")
    with _files.FileLock(lock_path):
        with pytest.raises(_files.LockTimeout, match="pid %d" % os.getpid()):
            _files.FileLock(lock_path, timeout=0.2, poll=0.05).acquire()
    with _files.FileLock(lock_path, timeout=0.2):
        pass


@pytest.mark.parametrize("attributes, message", [
    ({"mode": "u=rwx,g=qq"}, "mode 'u=rwx,g=qq' for "),
    ({"mode": "0644x"}, "is not valid"),
    ({"mode": 0o17777}, "is not valid"),
    ({"owner": "nosuchuser-squaremcp"}, "owner (user) 'nosuchuser-squaremcp' does not exist on this host"),
    ({"group": "nosuchgroup-squaremcp"}, "group 'nosuchgroup-squaremcp' does not exist on this host"),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_owner_group_or_mode_fails_before_anything_is_written(tmp_path, attributes, message, check_mode):
    first, second = str(tmp_path / "a.yml"), str(tmp_path / "b.yml")
    write(first, b"a-old\n", 0o640)
    before = os.stat(first)
    with pytest.raises(_files.FileError) as err:
        _files.write_files(make_module(check_mode), [{"path": first, "content": b"a-new\n"},
                                                     dict(attributes, path=second, content=b"b-new\n")])
    assert message in str(err.value) and err.value.changed is False
    after = os.stat(first)
    assert read(first) == b"a-old\n" and (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(os.listdir(str(tmp_path))) == ["a.yml"]


def test_symbolic_mode_and_numeric_owner_reach_a_new_and_an_existing_file(module, tmp_path):
    new, existing = str(tmp_path / "new.yml"), str(tmp_path / "old.yml")
    write(existing, b"old\n", 0o644)
    result = _files.write_files(module, [{"path": new, "content": b"x\n", "mode": "u=rw,g=r,o=", "owner": "1234",
                                          "group": 4321},
                                         {"path": existing, "content": b"y\n", "mode": "o-r", "owner": 1234}])
    assert result["changed"] and result["written"] == [new, existing]
    assert [(os.stat(p).st_mode & 0o7777, os.stat(p).st_uid) for p in (new, existing)] == [(0o640, 1234), (0o640, 1234)]
    assert os.stat(new).st_gid == 4321
    again = _files.write_files(make_module(check_mode=True), [{"path": existing, "content": b"y\n", "mode": "o-r"}])
    assert again["changed"] is False, "a symbolic mode already in place is no change"


def test_check_mode_refuses_what_the_real_run_refuses(tmp_path):
    (tmp_path / "plain").write_text("a file, not a directory\n")
    missing = str(tmp_path / "missing" / "routes.yml")
    check = make_module(check_mode=True)
    with pytest.raises(_files.FileError, match="does not exist: create it first"):
        _files.write_file(check, missing, b"x\n", check_missing_dirs=True)
    with pytest.raises(_files.FileError, match="does not exist: create it first"):
        _files.write_file(make_module(), missing, b"x\n")
    # a caller that creates the directory itself in a real run only gets the prediction
    assert _files.write_file(check, missing, b"x\n") == (True, None)
    for module in (check, make_module()):
        with pytest.raises(_files.FileError, match="cannot read .*/plain/routes.yml"):
            _files.write_file(module, str(tmp_path / "plain" / "routes.yml"), b"x\n")


def test_check_mode_refuses_an_unwritable_directory(tmp_path, monkeypatch):
    directory = str(tmp_path)
    real_access = os.access
    monkeypatch.setattr(_files.os, "access", lambda path, mode: False if path == directory else real_access(path, mode))
    for module in (make_module(check_mode=True), make_module()):
        with pytest.raises(_files.FileError, match="directory %s is not writable" % directory):
            _files.write_file(module, str(tmp_path / "routes.yml"), b"x\n")
    assert os.listdir(directory) == []


def test_failure_after_the_rename_reports_a_change(module, tmp_path, monkeypatch):
    path = str(tmp_path / "routes.yml")
    write(path, b"old\n")

    def chown_fails(*_args):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(_files.os, "fchown", chown_fails)
    with pytest.raises(_files.FileError) as err:
        _files.write_file(module, path, b"new\n", owner="1234")
    assert err.value.changed is True
    assert "was written but its owner/group/mode could not be set: Operation not permitted" in str(err.value)
    assert read(path) == b"new\n" and leftovers(str(tmp_path)) == []


def test_a_failed_rename_leaves_no_temporary_files(module, tmp_path, monkeypatch):
    first, second = str(tmp_path / "a.yml"), str(tmp_path / "b.yml")
    real_move = module.atomic_move

    def move_fails_on_second(src, dest, **kwargs):
        if dest == second:
            raise Exception("Could not replace %s" % dest)
        return real_move(src, dest, **kwargs)

    monkeypatch.setattr(module, "atomic_move", move_fails_on_second)
    with pytest.raises(_files.FileError) as err:
        _files.write_files(module, [{"path": first, "content": b"a\n"}, {"path": second, "content": b"b\n"}])
    assert err.value.changed is True and "files written before it: %s" % first in str(err.value)
    assert leftovers(str(tmp_path)) == [] and sorted(os.listdir(str(tmp_path))) == ["a.yml"]


def test_a_file_changed_since_it_was_read_is_not_overwritten(module, tmp_path):
    path = str(tmp_path / "routes.yml")
    write(path, b"read\n")
    write(path, b"an editor wrote this meanwhile\n")
    with pytest.raises(_files.FileError, match="changed on disk while this run was working"):
        _files.write_file(module, path, b"new\n", expect=b"read\n")
    assert read(path) == b"an editor wrote this meanwhile\n" and leftovers(str(tmp_path)) == []
    with pytest.raises(_files.FileError, match="changed on disk"):
        _files.write_file(module, str(tmp_path / "new.yml"), b"x\n", expect=b"it existed\n")  # expected a file
    assert _files.write_file(module, path, b"new\n", expect=b"an editor wrote this meanwhile\n")[0]


@pytest.mark.parametrize("content", [b"same\n", b"different\n"])
def test_a_symbolic_link_is_never_written_or_chmod_ed_through(module, tmp_path, content):
    outside = tmp_path / "outside.yml"
    outside.write_bytes(b"same\n")
    os.chmod(str(outside), 0o600)
    link = tmp_path / "routes.yml"
    os.symlink(str(outside), str(link))
    with pytest.raises(_files.FileError, match="is a symbolic link"):
        _files.write_file(module, str(link), content, mode="0644")
    assert outside.read_bytes() == b"same\n" and os.stat(str(outside)).st_mode & 0o777 == 0o600
    assert os.path.islink(str(link))
    with pytest.raises(_files.FileError, match="is a symbolic link"):
        _files.read_bytes(str(link), follow_symlinks=False)


def test_lock_file_is_never_rewritten_nor_followed(tmp_path):
    lock = tmp_path / ".lock"
    with _files.FileLock(str(lock)):
        pass
    before = os.stat(str(lock))
    with _files.FileLock(str(lock)):
        pass
    after = os.stat(str(lock))
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, 0)
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep")
    os.symlink(str(outside), str(tmp_path / "link.lock"))
    with pytest.raises(_files.FileError, match="is a symbolic link"):
        _files.FileLock(str(tmp_path / "link.lock")).acquire()
    assert outside.read_bytes() == b"keep"


def test_directory_lock_serialises_and_names_the_holder(tmp_path):
    import subprocess
    import sys
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDONLY)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)\n"), str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(_files.LockTimeout, match="pid %d" % holder.pid):
            with _files.lock_directory(str(tmp_path / "routes.yml"), timeout=0.3):
                pass
    finally:
        holder.kill()
        holder.wait()
    with _files.lock_directory(str(tmp_path / "routes.yml"), timeout=0.3):
        assert os.listdir(str(tmp_path)) == []  # nothing created to lock

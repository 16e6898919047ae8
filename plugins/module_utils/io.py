# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File primitives shared by the collection's modules.

* :func:`write_file` writes through a temporary file in the destination directory and
  ``AnsibleModule.atomic_move``, keeps the existing file's owner/mode, honours check mode,
  optional backup, and never rewrites identical content (mtime is kept).
* :func:`write_files` is the same for several files: every temporary file is written first, then
  they are renamed into place, so a failure while writing leaves every destination untouched.
* :class:`FileLock` serialises concurrent runs (e.g. a systemd timer and a manual run).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import time


class FileError(Exception):
    """A file operation failed; the message says what and what to do."""


def read_bytes(path):
    """Return the content of ``path`` or ``None`` when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc


def check_writable_dir(path):
    """Fail early (before any file is touched) when ``path``'s directory cannot take new files."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise FileError(
            "directory %s does not exist: create it first (or fix the path)" % directory
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise FileError(
            "directory %s is not writable by uid %d: fix its permissions or run with become"
            % (directory, os.geteuid())
        )
    return directory


@contextlib.contextmanager
def _umask(mask):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _stage(path, content, mode):
    """Write ``content`` to a temporary file beside ``path``; return its name."""
    directory = check_writable_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None and isinstance(mode, int):
            os.chmod(tmp, mode)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise FileError("cannot write a temporary file in %s: %s" % (directory, exc.strerror or exc)) from exc
    return tmp


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _file_args(module, spec):
    # load_file_common_arguments fills the SELinux context the way the file module does.
    return module.load_file_common_arguments(
        {"path": spec["path"], "mode": spec.get("mode"), "owner": spec.get("owner"), "group": spec.get("group")}
    )


def _private(mode):
    """True when ``mode`` grants nothing to group/other (e.g. 0600 keys)."""
    if isinstance(mode, str):
        try:
            mode = int(mode, 8)
        except ValueError:
            return False
    return isinstance(mode, int) and not mode & 0o077


def write_files(module, files, backup=False):
    """Write several files atomically with respect to each other's failures.

    ``files`` is a list of dicts with ``path``, ``content`` (bytes) and optional ``mode``,
    ``owner``, ``group``. Returns ``{"changed": bool, "written": [paths], "backups": {path: file}}``.
    In check mode nothing is written but ``changed`` tells what would happen.
    """
    result = {"changed": False, "written": [], "backups": {}}
    pending = []
    for spec in files:
        current = read_bytes(spec["path"])
        if current != spec["content"]:
            pending.append((spec, current))
        elif module.check_mode:
            result["changed"] |= _attrs_differ(spec)
        else:
            result["changed"] |= module.set_fs_attributes_if_different(_file_args(module, spec), False)
    if not pending:
        return result
    result["changed"] = True
    result["written"] = [spec["path"] for spec, _current in pending]
    if module.check_mode:
        return result
    staged = []
    try:
        for spec, current in pending:
            staged.append((spec, current, _stage(spec["path"], spec["content"], _octal(spec.get("mode")))))
    except FileError:
        for _spec, _current, tmp in staged:
            _unlink_quietly(tmp)
        raise
    for spec, current, tmp in staged:
        if backup and current is not None:
            result["backups"][spec["path"]] = module.backup_local(spec["path"])
        # atomic_move gives a NEW file 0666 & ~umask before we chmod it: keep private files private.
        with _umask(0o077) if _private(spec.get("mode")) else contextlib.nullcontext():
            module.atomic_move(tmp, spec["path"], unsafe_writes=False)
        module.set_fs_attributes_if_different(_file_args(module, spec), False)
    return result


def _octal(mode):
    if mode is None:
        return None
    if isinstance(mode, int):
        return mode
    try:
        return int(str(mode), 8)
    except ValueError:
        return None  # symbolic modes are applied afterwards by set_fs_attributes_if_different


def _attrs_differ(spec):
    """Check-mode estimate of whether owner/group/mode of an existing file would change."""
    try:
        st = os.stat(spec["path"])
    except OSError:
        return True
    mode = _octal(spec.get("mode"))
    if mode is not None and (st.st_mode & 0o7777) != mode:
        return True
    for key, attr, lookup in (("owner", "st_uid", _uid), ("group", "st_gid", _gid)):
        wanted = spec.get(key)
        if wanted is not None and lookup(wanted) != getattr(st, attr):
            return True
    return False


def _uid(name):
    import pwd

    try:
        return int(name)
    except ValueError:
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            return None


def _gid(name):
    import grp

    try:
        return int(name)
    except ValueError:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            return None


def write_file(module, path, content, mode=None, owner=None, group=None, backup=False):
    """Write one file atomically; see :func:`write_files`. Returns ``(changed, backup_file)``."""
    result = write_files(
        module, [{"path": path, "content": content, "mode": mode, "owner": owner, "group": group}], backup=backup
    )
    return result["changed"], result["backups"].get(path)


def remove_files(module, paths):
    """Remove files that exist; returns the list of removed (or, in check mode, removable) paths."""
    removed = []
    for path in paths:
        if os.path.lexists(path):
            removed.append(path)
            if not module.check_mode:
                try:
                    os.unlink(path)
                except OSError as exc:
                    raise FileError("cannot remove %s: %s" % (path, exc.strerror or exc)) from exc
    return removed


class LockTimeout(FileError):
    pass


class FileLock(object):
    """Exclusive ``flock`` on ``path`` (created if missing), waiting at most ``timeout`` seconds."""

    def __init__(self, path, timeout=60.0, poll=0.1):
        self.path = path
        self.timeout = timeout
        self.poll = poll
        self._fd = None

    def acquire(self):
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise FileError(
                "cannot open the lock file %s: %s (fix the directory or the lock_file option)"
                % (self.path, exc.strerror or exc)
            ) from exc
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise FileError("cannot lock %s: %s" % (self.path, exc.strerror)) from exc
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockTimeout(
                        "another run holds the lock %s%s and did not release it within %ss: wait for it to "
                        "finish (or raise lock_timeout); remove the file only if no such process exists"
                        % (self.path, " (pid %s)" % holder if holder else "", self.timeout)
                    )
                time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _read_holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode().strip() or None
    except OSError:
        return None

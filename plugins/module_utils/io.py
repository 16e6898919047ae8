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
import re
import stat
import tempfile
import time


class FileError(Exception):
    """A file operation failed; the message says what and what to do.

    ``changed`` is true when a destination had already been replaced when the failure happened
    (the caller must then report a change).
    """

    def __init__(self, message, changed=False):
        super(FileError, self).__init__(message)
        self.changed = changed


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
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise FileError("%s is not a directory, so %s cannot be written: fix the path" % (directory, path))
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


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _lookup(value, what, by_name):
    """uid/gid for an owner/group given by number or name; FileError when the name does not exist."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return by_name(text)
    except KeyError:
        raise FileError("%s %r does not exist on this host: create it first, or give an existing name or a numeric id"
                        % (what, text)) from None


def _parse_mode(module, path, mode, current):
    """The permission bits ``mode`` (octal number/string or symbolic such as ``u=rw,g=r``) gives ``path``,
    from its current mode (a new file starts as atomic_move creates it); FileError when it is invalid."""
    if mode is None:
        return None
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    elif isinstance(mode, str) and re.match(r"^[0-7]+$", mode.strip()):
        value = int(mode.strip(), 8)
    elif isinstance(mode, str) and mode.strip():
        base = current if current is not None else (stat.S_IFREG | (0o666 & ~_current_umask()))
        try:
            value = module._symbolic_mode_to_octal(os.stat_result((base,) + (0,) * 9), mode.strip())
        except ValueError as exc:
            raise FileError("mode %r for %s is not valid (%s): give an octal mode such as '0644' or a symbolic one "
                            "such as 'u=rw,g=r,o='" % (mode, path, exc)) from None
    else:
        value = -1
    if not 0 <= value <= 0o7777:
        raise FileError("mode %r for %s is not valid: give an octal mode such as '0644' or a symbolic one such as "
                        "'u=rw,g=r,o='" % (mode, path))
    return value


def _wanted_attributes(module, spec):
    """(uid, gid, mode) wanted for ``spec``'s file, None where it keeps what it has; resolved BEFORE
    anything is written, so a bad owner, group or mode fails with every file untouched."""
    import grp
    import pwd

    try:
        current = os.stat(spec["path"]).st_mode
    except OSError:
        current = None
    return (_lookup(spec.get("owner"), "owner (user)", lambda name: pwd.getpwnam(name).pw_uid),
            _lookup(spec.get("group"), "group", lambda name: grp.getgrnam(name).gr_gid),
            _parse_mode(module, spec["path"], spec.get("mode"), current))


def _attributes_differ(path, wanted):
    try:
        st = os.stat(path)
    except OSError:
        return True
    uid, gid, mode = wanted
    return ((uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid)
            or (mode is not None and mode != stat.S_IMODE(st.st_mode)))


def _apply_attributes(module, path, wanted):
    """Give ``path`` the wanted owner, group and mode (chown first: it clears set-id bits); True if any changed."""
    uid, gid, mode = wanted
    st = os.stat(path)
    changed = False
    if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        changed = True
    if mode is not None and mode != stat.S_IMODE(os.stat(path).st_mode):
        os.chmod(path, mode)
        changed = True
    # SELinux context (and file attributes) the way the file module sets them.
    return module.set_fs_attributes_if_different(_file_args(module, {"path": path}), changed)


def _stage(path, content):
    """Write ``content`` to a private temporary file beside ``path``; return its name."""
    directory = check_writable_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
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


def write_files(module, files, backup=False, check_missing_dirs=False):
    """Write several files atomically with respect to each other's failures.

    ``files`` is a list of dicts with ``path``, ``content`` (bytes) and optional ``mode``,
    ``owner``, ``group``. Returns ``{"changed": bool, "written": [paths], "backups": {path: file}}``.

    Before anything is written, every owner/group is looked up, every mode parsed and every
    destination directory checked (is a directory, writable): a problem raises :class:`FileError`
    with every file untouched, in check mode as in a real run. A missing directory fails a real
    run; in check mode it fails only with ``check_missing_dirs`` (leave it off when the caller
    creates the directory itself before writing). In check mode nothing is written, but ``changed``
    tells what would happen. A failure after a file has been replaced raises :class:`FileError`
    with ``changed=True``.
    """
    result = {"changed": False, "written": [], "backups": {}}
    pending, settled = [], []
    for spec in files:
        wanted = _wanted_attributes(module, spec)
        current = read_bytes(spec["path"])
        if current != spec["content"]:
            directory = os.path.dirname(os.path.abspath(spec["path"])) or "."
            if not module.check_mode or check_missing_dirs or os.path.lexists(directory):
                check_writable_dir(spec["path"])
            pending.append((spec, current, wanted))
        else:
            settled.append((spec, wanted))
    for spec, wanted in settled:
        if module.check_mode:
            result["changed"] |= _attributes_differ(spec["path"], wanted)
        else:
            try:
                result["changed"] |= _apply_attributes(module, spec["path"], wanted)
            except OSError as exc:
                raise FileError("cannot set owner/group/mode of %s: %s" % (spec["path"], exc.strerror or exc),
                                changed=result["changed"]) from exc
    if not pending:
        return result
    if module.check_mode:
        result["changed"] = True
        result["written"] = [spec["path"] for spec, _current, _wanted in pending]
        return result
    staged = []
    try:
        for spec, current, wanted in pending:
            staged.append((spec, current, wanted, _stage(spec["path"], spec["content"])))
    except FileError as exc:
        for _spec, _current, _wanted, tmp in staged:
            _unlink_quietly(tmp)
        exc.changed = result["changed"]
        raise
    for index, (spec, current, wanted, tmp) in enumerate(staged):
        path = spec["path"]
        try:
            if backup and current is not None:
                result["backups"][path] = module.backup_local(path)
            # atomic_move gives a NEW file 0666 & ~umask before its mode is set: keep private files private.
            with _umask(0o077) if wanted[2] is not None and not wanted[2] & 0o077 else contextlib.nullcontext():
                module.atomic_move(tmp, path, unsafe_writes=False)
        except Exception as exc:  # atomic_move raises plain Exception
            for _spec, _current, _wanted, left in staged[index:]:
                _unlink_quietly(left)
            raise FileError("cannot replace %s: %s%s" % (path, exc, " (files written before it: %s)" % ", ".join(
                result["written"]) if result["written"] else ""), changed=bool(result["written"])) from exc
        result["changed"] = True
        result["written"].append(path)
        try:
            _apply_attributes(module, path, wanted)
        except OSError as exc:
            for _spec, _current, _wanted, left in staged[index + 1:]:
                _unlink_quietly(left)
            raise FileError("%s was written but its owner/group/mode could not be set: %s (fix the cause and run "
                            "again)" % (path, exc.strerror or exc), changed=True) from exc
    return result


def write_file(module, path, content, mode=None, owner=None, group=None, backup=False, check_missing_dirs=False):
    """Write one file atomically; see :func:`write_files`. Returns ``(changed, backup_file)``."""
    result = write_files(
        module, [{"path": path, "content": content, "mode": mode, "owner": owner, "group": group}], backup=backup,
        check_missing_dirs=check_missing_dirs,
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

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File primitives shared by the collection's modules and the cert rotation timer.

* :func:`write_file` / :func:`write_files` write through a temporary file in the destination
  directory and an atomic rename, keep an existing file's owner/mode, honour check mode, keep an
  optional backup and never rewrite identical content (mtime and inode are kept). Several files are
  staged first and renamed after, so a failure while writing leaves every destination untouched.
* A destination that is a symbolic link is refused: nothing is ever written, chmod-ed or chown-ed
  through a link the task did not name as its target.
* :func:`lock_directory` and :class:`FileLock` serialise concurrent runs (a timer and a person, two
  plays); ``expect`` in a file spec refuses to write from a stale read.

The environment is an explicit :class:`FileOps`: :class:`ModuleFileOps` wraps an ``AnsibleModule``
(atomic_move, backups, SELinux context and file attributes); :class:`ProcessFileOps` is the same
for a plain Python process without Ansible (the cert rotation timer). Every function also accepts
an ``AnsibleModule`` directly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

# Options of ansible.builtin.files that set more than owner, group and mode.
CONTEXT_OPTIONS = ("seuser", "serole", "setype", "selevel", "attributes")


class FileError(Exception):
    """A file operation failed; the message says what and what to do.

    ``changed`` is true when a destination had already been replaced when the failure happened
    (the caller must then report a change).
    """

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


class LockTimeout(FileError):
    pass


# ---------------------------------------------------------------------------------------------
# The environment


class FileOps:
    """What the file helpers need from the process they run in."""

    check_mode = False

    def atomic_move(self, src: str, dest: str) -> None:
        raise NotImplementedError

    def backup(self, path: str) -> str:
        raise NotImplementedError

    def symbolic_mode(self, current_mode: int, mode: str) -> int:
        """Permission bits of a symbolic mode (``u=rw,g=r``) applied to ``current_mode``; ValueError if invalid."""
        raise NotImplementedError

    def set_context(self, path: str, changed: bool) -> bool:
        """Apply the SELinux context / file attributes the task asked for; True when anything changed."""
        return changed


class ModuleFileOps(FileOps):
    """:class:`FileOps` of an ``AnsibleModule`` (the file options of ``add_file_common_args`` are honoured)."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.check_mode = bool(module.check_mode)

    def atomic_move(self, src: str, dest: str) -> None:
        self.module.atomic_move(src, dest, unsafe_writes=bool(self.module.params.get("unsafe_writes")))

    def backup(self, path: str) -> str:
        return self.module.backup_local(path)

    def symbolic_mode(self, current_mode: int, mode: str) -> int:
        return self.module._symbolic_mode_to_octal(os.stat_result((current_mode,) + (0,) * 9), mode)

    def set_context(self, path: str, changed: bool) -> bool:
        params = {key: self.module.params.get(key) for key in CONTEXT_OPTIONS}
        params["path"] = path
        return self.module.set_fs_attributes_if_different(self.module.load_file_common_arguments(params), changed)


class ProcessFileOps(FileOps):
    """:class:`FileOps` of a plain Python process (no SELinux handling; octal modes only)."""

    def __init__(self, check_mode: bool = False) -> None:
        self.check_mode = check_mode

    def atomic_move(self, src: str, dest: str) -> None:
        """Rename ``src`` over ``dest``, keeping an existing destination's owner and mode, then sync the directory."""
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            os.chown(src, st.st_uid, st.st_gid)
            os.chmod(src, stat.S_IMODE(st.st_mode))
        os.rename(src, dest)
        directory = os.open(os.path.dirname(os.path.abspath(dest)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def backup(self, path: str) -> str:
        backup = "%s.%d.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
        shutil.copy2(path, backup)
        return backup

    def symbolic_mode(self, current_mode: int, mode: str) -> int:
        raise ValueError("symbolic modes need Ansible; give an octal mode such as '0600'")


def file_ops(host: Any) -> FileOps:
    """``host`` as :class:`FileOps` (an ``AnsibleModule`` is wrapped)."""
    return host if isinstance(host, FileOps) else ModuleFileOps(host)


# ---------------------------------------------------------------------------------------------
# Reading


def _symlink_error(path: str) -> FileError:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return FileError("%s is a symbolic link (to %s): refusing to read or write through it; replace the link with "
                     "the file itself, or give the path of the file it points to" % (path, target))


def read_bytes(path: str, follow_symlinks: bool = True) -> Optional[bytes]:
    """Return the content of ``path`` or ``None`` when it does not exist.

    With ``follow_symlinks=False`` (a file the caller is going to replace) a symbolic link is a FileError.
    """
    flags = os.O_RDONLY | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise _symlink_error(path) from None
        raise FileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise FileError("cannot read %s: %s" % (path, exc.strerror or exc)) from exc


def check_writable_dir(path: str) -> str:
    """Fail early (before any file is touched) when ``path``'s directory cannot take new files."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise FileError("%s is not a directory, so %s cannot be written: fix the path" % (directory, path))
    if not os.path.isdir(directory):
        raise FileError("directory %s does not exist: create it first (or fix the path)" % directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise FileError("directory %s is not writable by uid %d: fix its permissions or run with become"
                        % (directory, os.geteuid()))
    return directory


# ---------------------------------------------------------------------------------------------
# Owner, group, mode


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _lookup(value: Any, what: str, by_name: Any) -> Optional[int]:
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


def _parse_mode(ops: FileOps, path: str, mode: Any, current: Optional[int]) -> Optional[int]:
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
            value = ops.symbolic_mode(base, mode.strip())
        except ValueError as exc:
            raise FileError("mode %r for %s is not valid (%s): give an octal mode such as '0644' or a symbolic one "
                            "such as 'u=rw,g=r,o='" % (mode, path, exc)) from None
    else:
        value = -1
    if not 0 <= value <= 0o7777:
        raise FileError("mode %r for %s is not valid: give an octal mode such as '0644' or a symbolic one such as "
                        "'u=rw,g=r,o='" % (mode, path))
    return value


Wanted = Tuple[Optional[int], Optional[int], Optional[int]]


def _wanted_attributes(ops: FileOps, spec: Dict[str, Any]) -> Wanted:
    """(uid, gid, mode) wanted for ``spec``'s file, None where it keeps what it has; resolved BEFORE
    anything is written, so a bad owner, group or mode fails with every file untouched."""
    import grp
    import pwd

    try:
        current: Optional[int] = os.lstat(spec["path"]).st_mode
    except OSError:
        current = None
    return (_lookup(spec.get("owner"), "owner (user)", lambda name: pwd.getpwnam(name).pw_uid),
            _lookup(spec.get("group"), "group", lambda name: grp.getgrnam(name).gr_gid),
            _parse_mode(ops, spec["path"], spec.get("mode"), current))


def _attributes_differ(path: str, wanted: Wanted) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return True
    uid, gid, mode = wanted
    return ((uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid)
            or (mode is not None and mode != stat.S_IMODE(st.st_mode)))


def _apply_attributes(ops: FileOps, path: str, wanted: Wanted) -> bool:
    """Give the file ``path`` the wanted owner, group and mode, never through a link (chown first: it clears
    set-id bits); True if anything changed."""
    uid, gid, mode = wanted
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_error(path) from None
        raise
    changed = False
    try:
        st = os.fstat(fd)
        if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
            os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            changed = True
        if mode is not None and mode != stat.S_IMODE(os.fstat(fd).st_mode):
            os.fchmod(fd, mode)
            changed = True
    finally:
        os.close(fd)
    return ops.set_context(path, changed)


# ---------------------------------------------------------------------------------------------
# Writing


def _stage(path: str, content: bytes) -> str:
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


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _check_expected(spec: Dict[str, Any], current: Optional[bytes]) -> None:
    """Refuse to write from a stale read: ``expect`` is what the caller based its content on."""
    if "expect" in spec and current != spec["expect"]:
        raise FileError("%s changed on disk while this run was working on it (another run or an editor): nothing was "
                        "written; run again" % spec["path"])


def write_files(module: Any, files: Sequence[Dict[str, Any]], backup: bool = False,
                check_missing_dirs: bool = False, check_only: bool = False,
                validate: Optional[Callable[[Dict[str, Any], str], None]] = None) -> Dict[str, Any]:
    """Write several files atomically with respect to each other's failures.

    ``module`` is a :class:`FileOps` or an ``AnsibleModule``. ``files`` is a list of dicts with
    ``path``, ``content`` (bytes) and optional ``mode``, ``owner``, ``group`` and ``expect`` (the
    bytes the caller read, ``None`` for "did not exist": a file that changed since is refused).
    Returns ``{"changed": bool, "written": [paths], "backups": {path: file}}``.

    Before anything is written, every destination is checked (not a symbolic link, directory
    writable), every owner/group looked up and every mode parsed: a problem raises
    :class:`FileError` with every file untouched, in check mode as in a real run. A missing
    directory fails a real run; in check mode it fails only with ``check_missing_dirs`` (leave it
    off when the caller creates the directory itself before writing). In check mode nothing is
    written, but ``changed`` tells what would happen. A failure after a file has been replaced
    raises :class:`FileError` with ``changed=True``. ``check_only`` runs every check and reports as check
    mode does, also outside check mode (to refuse before changing something else, e.g. a cluster).
    ``validate(spec, staged_path)`` is called for every file whose content changes, on its staged copy beside the
    destination, after all are staged and before the first rename; a :class:`FileError` it raises leaves every
    destination untouched. The staged copy has the wanted owner and mode by then. It is not called in check mode
    (nothing is staged).
    """
    ops = file_ops(module)
    dry = ops.check_mode or check_only
    result: Dict[str, Any] = {"changed": False, "written": [], "backups": {}}
    pending: List[Tuple[Dict[str, Any], Optional[bytes], Wanted]] = []
    settled: List[Tuple[Dict[str, Any], Wanted]] = []
    for spec in files:
        current = read_bytes(spec["path"], follow_symlinks=False)
        _check_expected(spec, current)
        wanted = _wanted_attributes(ops, spec)
        if current != spec["content"]:
            directory = os.path.dirname(os.path.abspath(spec["path"])) or "."
            if not ops.check_mode or check_missing_dirs or os.path.lexists(directory):
                check_writable_dir(spec["path"])
            pending.append((spec, current, wanted))
        else:
            settled.append((spec, wanted))
    if dry:
        for spec, wanted in settled:
            result["changed"] |= _attributes_differ(spec["path"], wanted)
        if pending:
            result["changed"] = True
            result["written"] = [spec["path"] for spec, _current, _wanted in pending]
        return result
    staged: List[Tuple[Dict[str, Any], Optional[bytes], Wanted, str]] = []
    try:
        for spec, current, wanted in pending:
            staged.append((spec, current, wanted, _stage(spec["path"], spec["content"])))
        if validate is not None:
            for spec, _current, wanted, tmp in staged:
                try:
                    _apply_attributes(ops, tmp, wanted)  # validators such as visudo check owner and mode too
                except OSError as exc:
                    raise FileError("cannot set owner/group/mode of a staged copy of %s: %s" % (
                        spec["path"], exc.strerror or exc)) from exc
                validate(spec, tmp)
        for spec, current, _wanted, _tmp in staged:  # the last moment before the first rename
            if read_bytes(spec["path"], follow_symlinks=False) != current:
                raise FileError("%s changed on disk while this run was writing (another run or an editor): nothing "
                                "was written; run again" % spec["path"])
    except FileError as exc:
        for _spec, _current, _wanted, tmp in staged:
            _unlink_quietly(tmp)
        exc.changed = result["changed"]
        raise
    # Owner, group and mode of unchanged files only once nothing can be refused any more.
    for spec, wanted in settled:
        try:
            result["changed"] |= _apply_attributes(ops, spec["path"], wanted)
        except OSError as exc:
            for _spec, _current, _wanted, tmp in staged:
                _unlink_quietly(tmp)
            raise FileError("cannot set owner/group/mode of %s: %s" % (spec["path"], exc.strerror or exc),
                            changed=result["changed"]) from exc
    for index, (spec, current, wanted, tmp) in enumerate(staged):
        path = spec["path"]
        try:
            if backup and current is not None:
                result["backups"][path] = ops.backup(path)
            # atomic_move gives a NEW file 0666 & ~umask before its mode is set: keep private files private.
            with _umask(0o077) if wanted[2] is not None and not wanted[2] & 0o077 else contextlib.nullcontext():
                ops.atomic_move(tmp, path)
        except Exception as exc:  # atomic_move raises plain Exception
            for _spec, _current, _wanted, left in staged[index:]:
                _unlink_quietly(left)
            raise FileError("cannot replace %s: %s%s" % (path, exc, " (files written before it: %s)" % ", ".join(
                result["written"]) if result["written"] else ""), changed=bool(result["written"])) from exc
        result["changed"] = True
        result["written"].append(path)
        try:
            _apply_attributes(ops, path, wanted)
        except OSError as exc:
            for _spec, _current, _wanted, left in staged[index + 1:]:
                _unlink_quietly(left)
            raise FileError("%s was written but its owner/group/mode could not be set: %s (fix the cause and run "
                            "again)" % (path, exc.strerror or exc), changed=True) from exc
    return result


def write_file(module: Any, path: str, content: bytes, mode: Any = None, owner: Any = None, group: Any = None,
               backup: bool = False, check_missing_dirs: bool = False, **spec: Any) -> Tuple[bool, Optional[str]]:
    """Write one file atomically; see :func:`write_files` (``expect=`` as there). Returns ``(changed, backup_file)``."""
    spec.update(path=path, content=content, mode=mode, owner=owner, group=group)
    result = write_files(module, [spec], backup=backup, check_missing_dirs=check_missing_dirs)
    return result["changed"], result["backups"].get(path)


def ensure_directory(module: Any, path: str, mode: Any = None, owner: Any = None, group: Any = None) -> bool:
    """Create the directory ``path`` (its parent must exist) with owner, group and mode; True when it was
    created (or would be, in check mode). An existing directory is left as it is."""
    ops = file_ops(module)
    if os.path.isdir(path):
        return False
    spec = {"path": path, "mode": mode, "owner": owner, "group": group}
    wanted = _wanted_attributes(ops, spec)
    check_writable_dir(path)
    if ops.check_mode:
        return True
    try:
        os.mkdir(path, 0o700)
    except OSError as exc:
        raise FileError("cannot create the directory %s: %s" % (path, exc.strerror or exc)) from exc
    try:
        uid, gid, wanted_mode = wanted
        _apply_attributes(ops, path, (uid, gid, 0o755 & ~_current_umask() if wanted_mode is None else wanted_mode))
    except OSError as exc:
        raise FileError("%s was created but its owner/group/mode could not be set: %s" % (path, exc.strerror or exc),
                        changed=True) from exc
    return True


def remove_files(module: Any, paths: Sequence[str]) -> List[str]:
    """Remove files that exist (a link itself, never its target); returns the removed (or, in check mode, removable) paths."""
    ops = file_ops(module)
    removed = []
    for path in paths:
        if os.path.lexists(path):
            removed.append(path)
            if not ops.check_mode:
                try:
                    os.unlink(path)
                except OSError as exc:
                    raise FileError("cannot remove %s: %s" % (path, exc.strerror or exc)) from exc
    return removed


# ---------------------------------------------------------------------------------------------
# Locks


def _lock_holder(fd: int) -> Optional[str]:
    """PID of the process holding a flock on ``fd``'s file (from /proc/locks), or None."""
    st = os.fstat(fd)
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open("/proc/locks") as handle:
            for line in handle:
                fields = line.split()  # "1: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> 0 EOF"
                if len(fields) > 5 and fields[1] == "FLOCK":
                    major, minor, inode = fields[5].split(":")
                    if (int(major, 16), int(minor, 16), int(inode)) == wanted:
                        return fields[4]
    except (OSError, ValueError):
        return None
    return None


def _flock(fd: int, path: str, timeout: float, poll: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise FileError("cannot lock %s: %s" % (path, exc.strerror)) from exc
            if time.monotonic() >= deadline:
                holder = _lock_holder(fd)
                raise LockTimeout(
                    "another run holds the lock on %s%s and did not release it within %ss: wait for it to finish%s"
                    % (path, " (pid %s)" % holder if holder else "", timeout, what)) from None
            time.sleep(poll)


class FileLock:
    """Exclusive ``flock`` on the file ``path`` (created if missing, never through a symbolic link, never
    rewritten), waiting at most ``timeout`` seconds."""

    def __init__(self, path: str, timeout: float = 60.0, poll: float = 0.1) -> None:
        self.path = path
        self.timeout = timeout
        self.poll = poll
        self._fd: Optional[int] = None

    def acquire(self) -> "FileLock":
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FileError("the lock file %s is a symbolic link: remove the link (the run creates its own lock "
                                "file there)" % self.path) from None
            raise FileError("cannot open the lock file %s: %s (fix the directory or the lock_file option)"
                            % (self.path, exc.strerror or exc)) from exc
        try:
            _flock(fd, self.path, self.timeout, self.poll,
                   " (or raise lock_timeout); remove the file only if no such process exists")
        except FileError:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


@contextlib.contextmanager
def lock_directory(path: str, timeout: float = 60.0, poll: float = 0.1) -> Iterator[None]:
    """Exclusive ``flock`` on the directory holding ``path`` while the block runs (nothing is created).

    Every writer of that directory that takes this lock runs its read-decide-write alone. A missing
    directory is not locked (there is nothing to read; writing will fail on it anyway).
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        yield  # nothing to lock: reading and writing report the missing directory themselves
        return
    except OSError as exc:
        raise FileError("cannot open the directory %s to lock it: %s" % (directory, exc.strerror or exc)) from exc
    try:
        _flock(fd, directory, timeout, poll, "")
        yield
    finally:
        os.close(fd)


def file_differs(module: Any, spec: Dict[str, Any]) -> bool:
    """Whether :func:`write_files` would change ``spec``'s file (content, owner, group or mode)."""
    if read_bytes(spec["path"], follow_symlinks=False) != spec["content"]:
        return True
    return _attributes_differ(spec["path"], _wanted_attributes(file_ops(module), spec))

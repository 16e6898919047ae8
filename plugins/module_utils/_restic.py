# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restic (Debian's package) as a small typed API: one :class:`Restic` per repository.

Secrets never reach a command line: restic reads the repository password from the file named in
``RESTIC_PASSWORD_FILE`` (a systemd credential or a 0600 root file); cloud credentials are read
from their files into the environment of the short-lived restic child only; the SFTP private key
is a file given to ssh with ``-i``. Every failure becomes a :class:`ResticError` whose ``kind``
says what went wrong (wrong password, unreachable, full ...) and whose message says what to do,
with URLs redacted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from typing import Dict, Iterable, List, Optional, Sequence

from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import Config, Repository, redact_url

SNAPSHOT_TAG = "squaremcp"
CHECK_TIMEOUT_FACTOR = 4
_PATTERNS = (  # (kind, lower-case fragments of restic's or ssh's stderr), first match wins
    ("wrong_password", ("wrong password or no key found",)),
    ("missing", ("is there a repository at the following location", "unable to open config file",
                 "repository does not exist")),
    ("full", ("no space left on device", "disk quota exceeded", "quotaexceeded", "file too large")),
    ("locked", ("repository is already locked", "unable to create lock")),
    ("host_key", ("host key verification failed", "remote host identification has changed")),
    ("auth", ("permission denied (publickey", "permission denied, please try again", "accessdenied",
              "invalidaccesskeyid", "signaturedoesnotmatch")),
    ("unreachable", ("connection refused", "no route to host", "could not resolve", "name or service not known",
                     "temporary failure in name resolution", "i/o timeout", "connection timed out", "network is unreachable",
                     "unable to start the sftp session", "connection closed by", "connection reset", "dial tcp",
                     "ssh: connect to host", "kex_exchange_identification")),
)
_ADVICE = {
    "wrong_password": "the password credential does not open this repository: restore the vault value it was created "
                      "with (never create a new repository over it)",
    "missing": "no repository there yet: converge the backup role (it initialises the repositories), or fix the url",
    "full": "the repository's storage is full: free space or move the repository; existing snapshots are untouched",
    "locked": "another restic process holds an exclusive lock: wait for it (a stale lock is removed automatically "
              "once its process is gone)",
    "host_key": "the server's SSH host key does not match known_hosts: confirm the key out of band and update the "
                "inventory's known_hosts line",
    "auth": "the server refused the credentials: check the SSH key / access keys in the vault and on the server",
    "unreachable": "the repository cannot be reached: check the network, the server and the url",
    "timeout": "restic did not finish in time: check the repository's connection and size",
    "credentials": "converge the backup role so the credential files exist (root-owned, 0600)",
    "not_installed": "install Debian's restic package (the backup role does)",
    "failed": "see restic's message",
}


class ResticError(Exception):
    """A restic command failed; ``kind`` classifies it, the message names the repository and the fix."""

    def __init__(self, kind: str, message: str):
        super(ResticError, self).__init__(message)
        self.kind = kind


def classify(stderr: str) -> str:
    text = (stderr or "").lower()
    for kind, fragments in _PATTERNS:
        if any(fragment in text for fragment in fragments):
            return kind
    return "failed"


def excerpt(stderr: str, limit: int = 300) -> str:
    """The last meaningful lines of ``stderr`` (progress noise dropped), redacted and shortened."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("using temporary cache", "repository ", "created restic"))]
    text = redact_url(" | ".join(lines[-3:]))
    return text if len(text) <= limit else "..." + text[-limit:]


class _Drain(object):
    """Read a pipe to the end in a thread (so a chatty child never blocks on a full pipe)."""

    def __init__(self, pipe, limit: int = 1 << 20):
        self.data = bytearray()
        self._pipe = pipe
        self._limit = limit
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for chunk in iter(lambda: self._pipe.read(65536), b""):
            if len(self.data) < self._limit:
                self.data.extend(chunk[: self._limit - len(self.data)])
        self._pipe.close()

    def text(self, timeout: float = 30) -> str:
        self._thread.join(timeout)
        return self.data.decode("utf-8", "replace")


class Restic(object):
    """One repository of the configuration."""

    def __init__(self, config: Config, repository: Repository):
        self.config = config
        self.repository = repository
        self.warnings: List[str] = []

    # -- environment -------------------------------------------------------------------------
    def _credential(self, name: str) -> str:
        paths = self.config.credential_paths(name)
        for index, path in enumerate(paths):
            if os.path.isfile(path) and os.access(path, os.R_OK):
                if index:
                    warning = ("systemd did not hand over the credential %s (LoadCredential=): read from %s instead"
                               % (name, path))
                    if warning not in self.warnings:
                        self.warnings.append(warning)
                return path
        raise ResticError("credentials", "repository %s: the credential %s is missing or unreadable at %s: %s" % (
            self.repository.display, name, " and ".join(paths), _ADVICE["credentials"]))

    def dependencies(self) -> List[str]:
        """The files opening the repository reads: its credential files and, for SFTP, the known_hosts file
        (raises :class:`ResticError` for a credential that is missing)."""
        paths = [self._credential(name) for name in self.repository.credential_names()]
        return paths + ([self.repository.known_hosts] if self.repository.known_hosts else [])

    def env(self) -> Dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR") if key in os.environ}
        env.update(TZ="UTC", RESTIC_REPOSITORY=self.repository.url, RESTIC_PASSWORD_FILE=self._credential(self.repository.password),
                   RESTIC_CACHE_DIR=os.path.join(self.config.cache_dir, self.repository.name), RESTIC_PROGRESS_FPS="0.016")
        env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        for variable, credential in self.repository.env.items():
            with open(self._credential(credential)) as handle:
                env[variable] = handle.read().strip()
        return env

    def options(self) -> List[str]:
        if self.repository.kind != "sftp":
            return []
        target = self.repository.url[len("sftp:"):].rsplit(":", 1)[0]
        ssh = ["ssh", "-F", "/dev/null", "-i", self._credential(self.repository.ssh_key), "-o", "IdentitiesOnly=yes",
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + self.repository.known_hosts,
               "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
               "-p", str(self.repository.ssh_port), target, "-s", "sftp"]
        return ["-o", "sftp.command=" + " ".join(ssh)]

    def argv(self, args: Sequence[str]) -> List[str]:
        return [self.config.restic] + self.options() + list(args)

    def error(self, stderr: str, what: str, kind: Optional[str] = None) -> ResticError:
        kind = kind or classify(stderr)
        detail = excerpt(stderr)
        return ResticError(kind, "repository %s: %s failed: %s%s" % (
            self.repository.display, what, _ADVICE[kind], " (restic: %s)" % detail if detail else ""))

    # -- plain commands ----------------------------------------------------------------------
    def run(self, args: Sequence[str], what: str, timeout: Optional[int] = None) -> str:
        """Run restic with ``args``; return its stdout or raise :class:`ResticError`."""
        try:
            done = subprocess.run(self.argv(args), env=self.env(), stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout or self.config.command_timeout, check=False)
        except FileNotFoundError:
            raise ResticError("not_installed", "restic (%s) is not installed: %s" % (self.config.restic, _ADVICE["not_installed"]))
        except subprocess.TimeoutExpired:
            raise self.error("", what, "timeout")
        if done.returncode != 0:
            raise self.error(done.stderr.decode("utf-8", "replace"), what)
        return done.stdout.decode("utf-8", "replace")

    def json(self, args: Sequence[str], what: str, timeout: Optional[int] = None):
        out = self.run(list(args) + ["--json"], what, timeout)
        try:
            return json.loads(out) if out.strip() else None
        except ValueError:
            raise ResticError("failed", "repository %s: %s printed no JSON: %s" % (self.repository.display, what, excerpt(out)))

    def open(self) -> None:
        """Prove the repository exists and the password opens it (fast: reads only the config)."""
        self.run(["cat", "config"], "opening the repository", timeout=120)

    def init(self) -> None:
        self.run(["init"], "initialising the repository", timeout=300)

    def unlock(self) -> None:
        """Remove stale locks only (those of processes that no longer exist)."""
        self.run(["unlock"], "opening the repository", timeout=120)

    def snapshots(self, tags: Iterable[str] = (), host: Optional[str] = None) -> List[dict]:
        args = ["snapshots"]
        if tags:
            args += ["--tag", ",".join(tags)]
        if host:
            args += ["--host", host]
        return self.json(args, "listing snapshots") or []

    def ls(self, snapshot_id: str) -> List[dict]:
        out = self.run(["ls", "--json", snapshot_id], "listing snapshot %s" % snapshot_id[:8])
        nodes = []
        for line in out.splitlines():
            try:
                node = json.loads(line)
            except ValueError:
                continue
            if node.get("struct_type") == "node":
                nodes.append(node)
        return nodes

    def dump_bytes(self, snapshot_id: str, filename: str) -> bytes:
        try:
            done = subprocess.run(self.argv(["dump", snapshot_id, filename]), env=self.env(), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            raise self.error("", "reading %s" % filename, "timeout")
        if done.returncode != 0:
            raise self.error(done.stderr.decode("utf-8", "replace"), "reading %s of snapshot %s" % (filename, snapshot_id[:8]))
        return done.stdout

    def dump_stream(self, snapshot_id: str, filename: str) -> "Stream":
        """``restic dump`` as a running process whose stdout the caller reads."""
        return Stream(self, ["dump", snapshot_id, filename], "reading %s of snapshot %s" % (filename, snapshot_id[:8]),
                      stdin=False)

    def restore(self, snapshot_id: str, target: str) -> None:
        self.run(["restore", snapshot_id, "--target", target], "restoring snapshot %s" % snapshot_id[:8])

    def backup_paths(self, paths: Sequence[str], tags: Sequence[str], host: str, time: str) -> dict:
        out = self.run(["backup", "--json", "--quiet", "--host", host, "--time", time] + _tag_args(tags) + list(paths),
                       "backing up %s" % ", ".join(paths))
        return summary(out, self, "backing up %s" % ", ".join(paths))

    def backup_stdin(self, filename: str, tags: Sequence[str], host: str, time: str) -> "Stream":
        """A running ``restic backup --stdin``; write the data, then :meth:`Stream.finish` or :meth:`Stream.abort`."""
        args = ["backup", "--json", "--quiet", "--stdin", "--stdin-filename", filename, "--host", host, "--time", time]
        return Stream(self, args + _tag_args(tags), "backing up %s" % filename, stdin=True)

    def forget_plan(self, tags: Sequence[str], host: str, keep_args: Sequence[str]) -> List[dict]:
        """restic's own policy decision (``forget --dry-run``) for the snapshots tagged ``tags``."""
        args = ["forget", "--dry-run", "--tag", ",".join(tags), "--host", host, "--group-by", "host"] + list(keep_args)
        return self.json(args, "computing the retention") or []

    def forget(self, snapshot_ids: Sequence[str]) -> None:
        for start in range(0, len(snapshot_ids), 100):
            self.run(["forget"] + list(snapshot_ids[start:start + 100]), "forgetting expired snapshots")

    def prune(self) -> None:
        self.run(["prune"], "pruning unreferenced data", timeout=self.config.command_timeout * CHECK_TIMEOUT_FACTOR)

    def check(self, subset: str) -> None:
        self.run(["check", "--read-data-subset=%s" % subset], "checking the repository (read %s of the data)" % subset,
                 timeout=self.config.command_timeout * CHECK_TIMEOUT_FACTOR)


def _tag_args(tags: Sequence[str]) -> List[str]:
    args = []
    for tag in tags:
        args += ["--tag", tag]
    return args


def summary(out: str, restic: Restic, what: str) -> dict:
    """The ``summary`` message of ``restic backup --json``."""
    for line in reversed(out.splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "summary":
            return message
    raise ResticError("failed", "repository %s: %s printed no summary: %s" % (restic.repository.display, what, excerpt(out)))


class Stream(object):
    """A restic process fed through its stdin (backup) or read through its stdout (dump)."""

    def __init__(self, restic: Restic, args: Sequence[str], what: str, stdin: bool):
        self.restic = restic
        self.what = what
        self.error: Optional[ResticError] = None
        try:
            self.process = subprocess.Popen(restic.argv(args), env=restic.env(), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            raise ResticError("not_installed", "restic (%s) is not installed: %s" % (restic.config.restic, _ADVICE["not_installed"]))
        self._stderr = _Drain(self.process.stderr)
        self._stdout = _Drain(self.process.stdout) if stdin else None

    @property
    def stdout(self):
        return self.process.stdout

    @property
    def alive(self) -> bool:
        return self.error is None

    def write(self, chunk: bytes) -> bool:
        """Send ``chunk``; False (and :attr:`error` set) once restic stopped reading."""
        if self.error is not None:
            return False
        try:
            self.process.stdin.write(chunk)
            return True
        except (BrokenPipeError, OSError):
            self._fail()
            return False

    def _fail(self) -> None:
        self._close_stdin()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.error = self.restic.error(self._stderr.text(), self.what)

    def _close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass

    def abort(self) -> None:
        """Stop restic BEFORE its input ends, so no snapshot of partial data is ever written."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._close_stdin()

    def finish(self, timeout: int) -> dict:
        """End the input and return restic's summary (raises :class:`ResticError`)."""
        if self.error is not None:
            raise self.error
        self._close_stdin()
        self.wait(timeout)
        if self._stdout is None:
            return {}
        return summary(self._stdout.text(), self.restic, self.what)

    def wait(self, timeout: int) -> None:
        """Wait for restic's end; raise when it failed or took longer than ``timeout``."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.abort()
            raise self.restic.error("", self.what, "timeout")
        if self.process.returncode != 0:
            raise self.restic.error(self._stderr.text(), self.what)

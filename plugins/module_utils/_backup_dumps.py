# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consistent dumps taken inside the running database containers, streamed (never written to the
host), and their restores.

* PostgreSQL: ``pg_dump`` (one snapshot = one MVCC snapshot) per database, plain SQL with
  ``--clean --if-exists``, restored with ``psql --single-transaction`` (all or nothing).
* MariaDB: ``mariadb-dump --single-transaction`` (one InnoDB snapshot), one INSERT per row.
* Redis: ``BGSAVE``, then the RDB file it wrote; restored by putting it in place and restarting.

While a dump streams through, a :class:`Scanner` fingerprints it (per table: rows and an
order-independent digest of the rows) and checks it is complete (the dump's trailer, the RDB end
marker). The same scan of a live database tells whether a host holds data a snapshot does not
(restore onto newer data) and proves a restore (rows and digests equal the manifest's).

Passwords: a source's ``password_file`` is a path inside the container (a Compose secret); the
shell there reads it into the environment of the short-lived dump or restore process only
(PGPASSWORD, MYSQL_PWD, REDISCLI_AUTH), never onto a command line and never onto the host.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.squaremcp.infra.plugins.module_utils._backup_config import Source
from ansible_collections.squaremcp.infra.plugins.module_utils._backup_docker import Container, Docker, SourceError

CHUNK = 1 << 20
DATABASE_NAME = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,62}$")
MARIADB_SYSTEM = ("information_schema", "performance_schema", "mysql", "sys")
SECRET_ENV = {"postgres": "PGPASSWORD", "mariadb": "MYSQL_PWD", "redis": "REDISCLI_AUTH"}
WITH_SECRET = 'f=$1; shift; %s="$(cat "$f")" || exit 97; export %s; exec "$@"'
PG_TRAILER = b"-- PostgreSQL database dump complete"
MARIADB_TRAILER = b"-- Dump completed"
REDIS_SAVE_TIMEOUT = 600


# --------------------------------------------------------------------------------------------
# Fingerprints


@dataclass
class Fingerprint:
    """Per table (or Redis database): number of rows (keys) and a digest independent of their order."""

    tables: Dict[str, Tuple[int, str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(count for count, _digest in self.tables.values())

    @property
    def empty(self) -> bool:
        return self.rows == 0

    def as_dict(self) -> Dict[str, List]:
        return {name: [count, digest] for name, (count, digest) in sorted(self.tables.items())}

    @classmethod
    def from_dict(cls, data: Optional[dict]) -> "Fingerprint":
        return cls({name: (int(value[0]), str(value[1])) for name, value in (data or {}).items()})

    def counts(self) -> Dict[str, int]:
        return {name: count for name, (count, _digest) in sorted(self.tables.items())}

    def differences(self, other: "Fingerprint", here: str = "host", there: str = "snapshot") -> List[str]:
        """What differs between this (``here``) and ``other`` (``there``), table by table; [] when equal.
        Tables without rows on both sides do not count."""
        out = []
        for name in sorted(set(self.tables) | set(other.tables)):
            mine, theirs = self.tables.get(name, (0, _EMPTY)), other.tables.get(name, (0, _EMPTY))
            if mine[0] == theirs[0] == 0 or mine == theirs:
                continue
            if mine[0] != theirs[0]:
                out.append("%s: %d rows on the %s, %d in the %s" % (name, mine[0], here, theirs[0], there))
            else:
                out.append("%s: same %d rows counted, different content" % (name, mine[0]))
        return out


class _RowDigest(object):
    """Sum of 64-bit BLAKE2b digests of the rows modulo 2**64: order-independent, counts duplicates."""

    def __init__(self):
        self.count = 0
        self.total = 0

    def add(self, row: bytes) -> None:
        self.count += 1
        self.total = (self.total + int.from_bytes(hashlib.blake2b(row, digest_size=8).digest(), "big")) & 0xFFFFFFFFFFFFFFFF

    def value(self) -> Tuple[int, str]:
        return self.count, "%016x" % self.total


_EMPTY = _RowDigest().value()[1]


class Scanner(object):
    """Reads a dump as it streams: ``feed`` chunks, then ``finish`` returns (fingerprint, complete)."""

    def __init__(self):
        self._rest = b""
        self._tail = b""
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._tail = (self._tail + chunk)[-4096:]
        data = self._rest + chunk
        lines = data.split(b"\n")
        self._rest = lines.pop()
        for line in lines:
            self.line(line)

    def line(self, line: bytes) -> None:
        raise NotImplementedError

    def finish(self) -> Tuple[Fingerprint, bool]:
        if self._rest:
            self.line(self._rest)
            self._rest = b""
        return self.fingerprint(), self.complete(self._tail)

    def fingerprint(self) -> Fingerprint:
        raise NotImplementedError

    def complete(self, tail: bytes) -> bool:
        raise NotImplementedError


class _TableScanner(Scanner):
    def __init__(self):
        super(_TableScanner, self).__init__()
        self.tables: Dict[str, _RowDigest] = {}

    def fingerprint(self) -> Fingerprint:
        return Fingerprint({name: digest.value() for name, digest in self.tables.items()})


class PostgresScanner(_TableScanner):
    """Plain pg_dump output: the rows are the lines of each ``COPY ... FROM stdin;`` block."""

    COPY = re.compile(rb"^COPY (.+?) (?:\(.*\) )?FROM stdin;$")

    def __init__(self):
        super(PostgresScanner, self).__init__()
        self._table: Optional[_RowDigest] = None

    def line(self, line: bytes) -> None:
        if self._table is not None:
            if line == b"\\.":
                self._table = None
            else:
                self._table.add(line)
            return
        match = self.COPY.match(line)
        if match:
            self._table = self.tables.setdefault(match.group(1).decode("utf-8", "replace"), _RowDigest())

    def complete(self, tail: bytes) -> bool:
        return PG_TRAILER in tail and self._table is None


class MariadbScanner(_TableScanner):
    """mariadb-dump --skip-extended-insert output: one ``INSERT INTO `t` VALUES (...);`` line per row."""

    INSERT = re.compile(rb"^INSERT INTO `((?:[^`]|``)+)` VALUES ")
    CREATE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)` \(")

    def line(self, line: bytes) -> None:
        match = self.INSERT.match(line)
        if match:
            self.tables.setdefault(match.group(1).decode("utf-8", "replace"), _RowDigest()).add(line)
            return
        match = self.CREATE.match(line)
        if match:
            self.tables.setdefault(match.group(1).decode("utf-8", "replace"), _RowDigest())

    def complete(self, tail: bytes) -> bool:
        return MARIADB_TRAILER in tail


class RdbScanner(Scanner):
    """An RDB file: starts with ``REDIS`` and, since RDB version 5, ends with 0xFF + an 8-byte checksum."""

    def __init__(self):
        super(RdbScanner, self).__init__()
        self._head = b""

    def feed(self, chunk: bytes) -> None:
        if len(self._head) < 9:
            self._head = (self._head + chunk)[:9]
        self.size += len(chunk)
        self._tail = (self._tail + chunk)[-9:]

    def line(self, line: bytes) -> None:  # pragma: no cover - binary, not line based
        pass

    def fingerprint(self) -> Fingerprint:
        return Fingerprint()

    def complete(self, tail: bytes) -> bool:
        return self._head.startswith(b"REDIS") and len(tail) == 9 and tail[0] == 0xFF


# --------------------------------------------------------------------------------------------
# Streaming


@dataclass
class PumpResult:
    size: int
    fingerprint: Fingerprint
    complete: bool
    producer_rc: int
    producer_error: str


def drain(pipe, sink: bytearray, limit: int = 65536) -> threading.Thread:
    """Read ``pipe`` to the end in a thread, keeping the first ``limit`` bytes in ``sink``."""
    def run():
        for chunk in iter(lambda: pipe.read(4096), b""):
            if len(sink) < limit:
                sink.extend(chunk)
        pipe.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pump(stdout, scanner: Optional[Scanner], sinks: Sequence[Callable[[bytes], bool]], deadline: float) -> Tuple[int, bool]:
    """Copy ``stdout`` to every sink (a sink returns False once it stopped accepting), scanning it on
    the way, until its end, until no sink accepts any more, or until ``deadline`` (monotonic).
    Returns (bytes read, stopped early). Sinks are never closed here: the caller decides whether
    they commit (a complete dump) or abort."""
    size = 0
    alive = list(sinks)
    for chunk in iter(lambda: stdout.read(CHUNK), b""):
        size += len(chunk)
        if scanner is not None:
            scanner.feed(chunk)
        alive = [sink for sink in alive if sink(chunk)]
        if (sinks and not alive) or time.monotonic() > deadline:
            return size, True
    return size, False


def produce(producer: subprocess.Popen, scanner: Optional[Scanner], sinks: Sequence[Callable[[bytes], bool]],
            timeout: int) -> PumpResult:
    """:func:`pump` a ``docker exec`` producer to the sinks, then wait for it and say how it ended."""
    errors = bytearray()
    drainer = drain(producer.stderr, errors)
    deadline = time.monotonic() + timeout
    size, stopped = pump(producer.stdout, scanner, sinks, deadline)
    if stopped:
        producer.kill()
    producer.stdout.close()
    try:
        rc = producer.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        producer.kill()
        rc = producer.wait()
    drainer.join(10)
    fingerprint, complete = scanner.finish() if scanner is not None else (Fingerprint(), True)
    text = " | ".join(line.strip() for line in errors.decode("utf-8", "replace").splitlines() if line.strip())
    if time.monotonic() > deadline:
        text = "timed out after %ss%s" % (timeout, "; " + text if text else "")
    return PumpResult(size=size, fingerprint=fingerprint, complete=complete and not stopped, producer_rc=rc,
                      producer_error=text[-400:])


def feed_process(consumer: subprocess.Popen) -> Callable[[bytes], bool]:
    def write(chunk: bytes) -> bool:
        try:
            consumer.stdin.write(chunk)
            return True
        except (BrokenPipeError, OSError):
            return False
    return write


# --------------------------------------------------------------------------------------------
# Kinds


def _with_secret(source: Source, argv: Sequence[str]) -> List[str]:
    if not source.password_file:
        return list(argv)
    variable = SECRET_ENV[source.type]
    return ["sh", "-c", WITH_SECRET % (variable, variable), "sh", source.password_file] + list(argv)


def _check_name(source: Source, database: str) -> str:
    if not DATABASE_NAME.match(database):
        raise SourceError("%s: database name %r is not supported (letters, digits, _ $ -)" % (source.display, database))
    return database


class Kind(object):
    """Commands for one database type; run inside the source's container."""

    filename = "%s.sql"
    exec_user = ""

    def __init__(self, source: Source, docker: Docker):
        self.source = source
        self.docker = docker

    def user(self) -> str:
        return self.exec_user

    def exec(self, container: Container, argv: Sequence[str], what: str, input: Optional[bytes] = None,
             check: bool = True, timeout: Optional[int] = None) -> subprocess.CompletedProcess:
        return self.docker.exec(container, _with_secret(self.source, argv), "%s: %s" % (self.source.display, what),
                                user=self.user(), input=input, check=check, timeout=timeout)

    def popen(self, container: Container, argv: Sequence[str], stdin: bool = False) -> subprocess.Popen:
        return self.docker.popen(container, _with_secret(self.source, argv), user=self.user(), stdin=stdin)

    def snapshot_path(self, database: str) -> str:
        return "/squaremcp/%s/%s" % (self.source.name, self.filename % database)

    def scanner(self) -> Scanner:
        raise NotImplementedError

    def databases(self, container: Container) -> List[str]:
        wanted = list(self.source.databases) or self.all_databases(container)
        return [_check_name(self.source, database) for database in wanted]

    def all_databases(self, container: Container) -> List[str]:
        raise NotImplementedError

    def dump_argv(self, database: str) -> List[str]:
        raise NotImplementedError

    def fingerprint(self, container: Container, database: str, timeout: int) -> Fingerprint:
        """The live data's fingerprint, by dumping it into the scanner only (nothing stored)."""
        if database not in self.all_databases(container):
            return Fingerprint()
        result = produce(self.popen(container, self.dump_argv(database)), self.scanner(), [], timeout)
        if result.producer_rc != 0 or not result.complete:
            raise SourceError("%s: reading database %s failed: %s" % (
                self.source.display, database, result.producer_error or "incomplete dump"))
        return result.fingerprint

    def details(self, container: Container, database: str) -> dict:
        return {}


class Postgres(Kind):
    exec_user = "postgres"

    def user(self) -> str:
        return "postgres" if not self.source.password_file else ""

    def _client(self) -> List[str]:
        return ["--username", self.source.user] if self.source.user else []

    def scanner(self) -> Scanner:
        return PostgresScanner()

    def _query(self, container: Container, sql: str, what: str, database: str = "postgres", **variables) -> List[str]:
        argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "-d", database] + self._client()
        for name, value in sorted(variables.items()):
            argv += ["-v", "%s=%s" % (name, value)]
        done = self.exec(container, argv, what, input=sql.encode("utf-8"))
        return [line for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]

    def all_databases(self, container: Container) -> List[str]:
        return self._query(container, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
                                      "AND datname <> 'postgres' ORDER BY 1;", "listing databases")

    def dump_argv(self, database: str) -> List[str]:
        return ["pg_dump", "--clean", "--if-exists", "--no-password", "--dbname", database] + self._client()

    def details(self, container: Container, database: str) -> dict:
        owner = self._query(container, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db';",
                            "reading the owner of %s" % database, db=database)
        return {"owner": owner[0] if owner else ""}

    def prepare_restore(self, container: Container, database: str, details: dict) -> List[str]:
        """Create the database when it does not exist (owned as it was); returns warnings."""
        if database in self.all_databases(container):
            return []
        owner = details.get("owner") or ""
        exists = owner and self._query(container, "SELECT 1 FROM pg_roles WHERE rolname = :'role';",
                                       "looking for role %s" % owner, role=owner)
        argv = ["createdb", "--no-password"] + self._client() + (["--owner", owner] if exists else []) + [database]
        self.exec(container, argv, "creating database %s" % database)
        return [] if exists or not owner else [
            "%s: role %s (owner of %s) does not exist; the database was created owned by the connecting user"
            % (self.source.display, owner, database)]

    def restore_argv(self, database: str) -> List[str]:
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "--no-password", "-o", "/dev/null",
                "-d", database] + self._client()


class Mariadb(Kind):
    def _client(self) -> List[str]:
        return ["--user=%s" % self.source.user] if self.source.user else []

    def scanner(self) -> Scanner:
        return MariadbScanner()

    def all_databases(self, container: Container) -> List[str]:
        done = self.exec(container, ["mariadb"] + self._client() + ["-N", "-B", "-e", "SHOW DATABASES"], "listing databases")
        return [name for name in done.stdout.decode("utf-8", "replace").split() if name not in MARIADB_SYSTEM]

    def dump_argv(self, database: str) -> List[str]:
        return ["mariadb-dump"] + self._client() + ["--single-transaction", "--skip-extended-insert", "--routines",
                                                    "--triggers", "--events", "--hex-blob", "--default-character-set=utf8mb4",
                                                    database]

    def prepare_restore(self, container: Container, database: str, details: dict) -> List[str]:
        self.exec(container, ["mariadb"] + self._client() + ["-e", "CREATE DATABASE IF NOT EXISTS `%s`" % database],
                  "creating database %s" % database)
        return []

    def restore_argv(self, database: str) -> List[str]:
        return ["mariadb"] + self._client() + ["--default-character-set=utf8mb4", database]


class Redis(Kind):
    filename = "dump.rdb"

    def snapshot_path(self, database: str = "") -> str:
        return "/squaremcp/%s/%s" % (self.source.name, self.filename)

    def scanner(self) -> Scanner:
        return RdbScanner()

    def cli(self, container: Container, args: Sequence[str], what: str) -> str:
        out = self.exec(container, ["redis-cli"] + list(args), what).stdout.decode("utf-8", "replace")
        if out.startswith(("ERR", "NOAUTH", "WRONGPASS", "NOPERM")):
            raise SourceError("%s: %s failed: %s" % (self.source.display, what, out.strip()[:200]))
        return out

    def info(self, container: Container, section: str) -> Dict[str, str]:
        out = self.cli(container, ["INFO", section], "reading INFO %s" % section)
        return dict(line.strip().split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))

    def config(self, container: Container, name: str) -> str:
        lines = self.cli(container, ["CONFIG", "GET", name], "reading the %s setting" % name).splitlines()
        return lines[1].strip() if len(lines) > 1 else ""

    def databases(self, container: Container) -> List[str]:
        return [""]

    def all_databases(self, container: Container) -> List[str]:
        return [""]

    def bgsave(self, container: Container, timeout: int = REDIS_SAVE_TIMEOUT) -> str:
        """Have Redis write a fresh RDB (BGSAVE) and return its path inside the container."""
        before = self.info(container, "persistence")
        counter = "rdb_saves" if "rdb_saves" in before else "rdb_last_save_time"
        if counter == "rdb_last_save_time":
            time.sleep(1.1)  # LASTSAVE has a resolution of one second
        self.cli(container, ["BGSAVE", "SCHEDULE"], "starting BGSAVE")
        deadline = time.monotonic() + timeout
        while True:
            now = self.info(container, "persistence")
            if now.get(counter) != before.get(counter) and now.get("rdb_bgsave_in_progress") == "0":
                break
            if time.monotonic() > deadline:
                raise SourceError("%s: BGSAVE did not finish within %ss" % (self.source.display, timeout))
            time.sleep(0.2)
        if now.get("rdb_last_bgsave_status") != "ok":
            raise SourceError("%s: BGSAVE failed (rdb_last_bgsave_status %s): see the container's log (disk full? "
                              "vm.overcommit_memory?)" % (self.source.display, now.get("rdb_last_bgsave_status")))
        return self.rdb_path(container)

    def rdb_path(self, container: Container) -> str:
        return "%s/%s" % (self.config(container, "dir"), self.config(container, "dbfilename"))

    def dump_argv(self, database: str = "", path: str = "") -> List[str]:
        return ["cat", "--", path]

    def fingerprint(self, container: Container, database: str = "", timeout: int = 600) -> Fingerprint:
        """Per Redis database: number of keys and a digest of their names (values are not compared)."""
        tables = {}
        for name in sorted(self.info(container, "keyspace")):
            if not re.match(r"^db\d+$", name):
                continue
            digest = _RowDigest()
            out = self.cli(container, ["-n", name[2:], "--scan"], "listing the keys of %s" % name)
            for key in out.splitlines():
                digest.add(key.encode("utf-8", "surrogateescape"))
            tables[name] = digest.value()
        return Fingerprint(tables)

    def staging_path(self, container: Container) -> str:
        return "%s/.squaremcp-restore.rdb" % self.config(container, "dir")

    def install(self, container: Container, staged: str, timeout: int) -> Container:
        """Put the staged RDB where this Redis loads it at start (its RDB, or the base of its AOF),
        restart the container and wait until it answers. The files it replaces stay beside as
        ``*.squaremcp-old`` until :meth:`cleanup`."""
        version = self.info(container, "server").get("redis_version", "0")
        appendonly = self.config(container, "appendonly") == "yes"
        mode = "none" if not appendonly else ("multipart" if int(version.split(".")[0]) >= 7 else "single")
        names = [self.config(container, "dir"), self.config(container, "dbfilename"), self.config(container, "appendfilename"),
                 self.config(container, "appenddirname") if mode == "multipart" else "-"]
        saved = {setting: self.config(container, setting) for setting in ("save", "appendonly")}
        try:
            for setting, value in (("save", ""), ("appendonly", "no")):  # nothing rewrites the files while they move
                self.cli(container, ["CONFIG", "SET", setting, value], "setting %s for the restore" % setting)
            self.docker.exec(container, ["sh", "-c", REDIS_SWAP, "sh"] + names + [mode, staged],
                             "%s: putting the restored RDB in place" % self.source.display)
        except SourceError:
            for setting, value in saved.items():  # Redis keeps persisting as it did; its files are as they were
                self.exec(container, ["redis-cli", "CONFIG", "SET", setting, value], "restoring %s" % setting, check=False)
            raise
        self.docker.restart(container)
        return self.docker.wait_ready(container, timeout, probe=_with_secret(self.source, ["redis-cli", "PING"]))

    def cleanup(self, container: Container) -> None:
        self.docker.exec(container, ["sh", "-c", 'rm -rf -- "$1"/*.squaremcp-old', "sh", self.config(container, "dir")],
                         "%s: removing the replaced files" % self.source.display)


REDIS_SWAP = r"""set -eu
dir=$1 rdb=$2 aof=$3 aofdir=$4 mode=$5 staged=$6
owner=$(stat -c %u:%g "$dir")
keep() { rm -rf -- "$1.squaremcp-old"; if [ -e "$1" ]; then mv -- "$1" "$1.squaremcp-old"; fi; }
case $mode in
  multipart)
    new=$dir/$aofdir.squaremcp-new
    rm -rf -- "$new"; mkdir -- "$new"
    cp -- "$staged" "$new/$aof.1.base.rdb"
    printf 'file %s seq 1 type b
' "$aof.1.base.rdb" >"$new/$aof.manifest"
    chown -R "$owner" "$new"
    keep "$dir/$aofdir"; mv -- "$new" "$dir/$aofdir" ;;
  single)
    keep "$dir/$aof"; cp -- "$staged" "$dir/$aof"; chown "$owner" "$dir/$aof" ;;
esac
chown "$owner" "$staged"
keep "$dir/$rdb"; mv -- "$staged" "$dir/$rdb"
"""


KINDS = {"postgres": Postgres, "mariadb": Mariadb, "redis": Redis}


def kind(source: Source, docker: Docker) -> Kind:
    return KINDS[source.type](source, docker)

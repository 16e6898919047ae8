# -*- coding: utf-8 -*-
"""Bad input and faults, each with the real parts (restic, the database servers, Docker): a clear
message, metrics that show the failure, and no data lost (the stack's data is untouched and every
earlier snapshot still restores)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.backup_env import ROWS, host, restore, stack  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.slow


def backed_up(host, repositories, sources):
    host.configure(repositories, sources)
    assert host.entry("init").returncode == 0
    done = host.entry("backup")
    assert done.returncode == 0, done.stdout + done.stderr
    return host.metrics()


def failed(host, repository):
    """The metrics show a run that did not succeed (what BackupStale turns into an alert)."""
    metrics = host.metrics()
    assert metrics["last_success_timestamp_seconds"][repository] < metrics["last_run_timestamp_seconds"][repository]


def test_a_configuration_that_cannot_be_read_still_counts_as_a_run(stack, host):
    local = host.repository("local")
    backed_up(host, [local], stack.sources("cache-redis"))
    host.config_path.write_text("{not json")
    done = host.entry("--metrics-path", str(host.metrics_path), "backup")
    assert done.returncode == 2 and "is not valid JSON" in done.stderr
    failed(host, "local")


def test_wrong_repository_password(stack, host):
    local, second = host.repository("local"), host.repository("second")
    first = backed_up(host, [local, second], stack.sources("cache-redis"))
    host.credential("second-password", "not-the-password-it-was-created-with")
    done = host.entry("backup")
    assert done.returncode == 1
    assert "repository second (%s): opening the repository failed: the password credential does not open this " \
           "repository: restore the vault value it was created with" % second["url"] in done.stdout
    assert "not-the-password" not in done.stdout + done.stderr
    metrics = host.metrics()
    assert metrics["last_success_timestamp_seconds"]["local"] > first["last_success_timestamp_seconds"]["local"]
    assert metrics["last_success_timestamp_seconds"]["second"] == first["last_success_timestamp_seconds"]["second"]
    assert metrics["last_run_timestamp_seconds"]["second"] > metrics["last_success_timestamp_seconds"]["second"]
    host.credential("second-password", "restic-second-test-only")
    assert len(host.snapshots(second, "manifest")) == 1  # the earlier run is intact


def test_repository_unreachable(stack, host):
    local = host.repository("local")
    offsite = dict(host.repository("offsite", url="sftp:restic@127.0.0.1:/srv/restic/sq-test-1"),
                   ssh_key="offsite-ssh-key", known_hosts=str(host.root / "known_hosts"), ssh_port=1)
    host.credential("offsite-ssh-key", "not a key\n")
    (host.root / "known_hosts").write_text("")
    host.configure([local, offsite], stack.sources("cache-redis"))
    init = host.entry("init")
    assert init.returncode == 1 and "repository offsite (sftp:restic@127.0.0.1:/srv/restic/sq-test-1): opening the " \
                                    "repository failed: the repository cannot be reached" in init.stdout
    done = host.entry("backup")
    assert done.returncode == 1 and "the repository cannot be reached: check the network" in done.stdout
    metrics = host.metrics()
    assert metrics["last_success_timestamp_seconds"] == {"local": metrics["last_run_timestamp_seconds"]["local"], "offsite": 0.0}


def test_repository_full_keeps_earlier_snapshots(stack, host):
    mount = host.root / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        local, spare = host.repository("local", url=str(mount / "repo")), host.repository("spare")
        backed_up(host, [local, spare], stack.sources("app-postgres"))
        stack.psql("CREATE TABLE filler AS SELECT g, md5(g::text) || md5((g * 7)::text) AS noise "
                   "FROM generate_series(1, 120000) g;")
        done = host.entry("backup")
        assert done.returncode == 1
        assert "repository local (%s): backing up /squaremcp/app-postgres/app.sql failed: the repository's storage is " \
               "full: free space or move the repository; existing snapshots are untouched" % local["url"] in done.stdout
        metrics = host.metrics()
        assert metrics["last_success_timestamp_seconds"]["spare"] == metrics["last_run_timestamp_seconds"]["spare"]
        assert metrics["last_success_timestamp_seconds"]["local"] < metrics["last_run_timestamp_seconds"]["local"]
        manifests = host.snapshots(local, "manifest", "complete")
        assert len(manifests) == 1
        assert b'"public.payments"' in subprocess.run(
            ["restic", "dump", manifests[0]["id"], "/squaremcp/manifest.json"], capture_output=True, check=True,
            env=dict(os.environ, RESTIC_REPOSITORY=local["url"],
                     RESTIC_PASSWORD_FILE=str(host.root / "credentials" / "local-password"))).stdout
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_stack_down_during_the_backup(stack, host, tmp_path):
    local = host.repository("local")
    backed_up(host, [local], stack.sources("app-postgres", "shop-mariadb"))
    stack.compose("stop", "mariadb")
    try:
        done = host.entry("backup")
        assert done.returncode == 1
        assert "shop-mariadb" in done.stdout and "(container %s) is exited with code 0, not running: start it (docker " \
               "compose -p %s up -d mariadb) and run again" % (stack.container("mariadb"), stack.project) in done.stdout
        assert len(host.snapshots(local, "manifest", "partial")) == 1
        assert len(host.snapshots(local, "source=app-postgres")) == 2  # what could be saved was saved
        failed(host, "local")
        refused = restore(host, tmp_path, repository="local", check=True)
        assert "is exited with code 0, not running" in refused["msg"] and "nothing was restored" in refused["msg"]
    finally:
        stack.compose("start", "mariadb")
        stack.compose("up", "-d", "--wait")
    planned = restore(host, tmp_path, repository="local", check=True)
    assert planned["complete"] and [i["action"] for i in planned["items"]] == ["unchanged", "unchanged"]


def _restic_feeding(path):
    """PID of the ``restic backup --stdin`` receiving ``path`` (a child of the entry point)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path("/proc", pid, "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--stdin-filename" in cmdline and path.encode() in cmdline:
                return int(pid)
    return None


def test_a_dump_that_fails_halfway_leaves_no_snapshot(stack, host):
    local = host.repository("local")
    backed_up(host, [local], stack.sources("app-postgres"))
    stack.psql("INSERT INTO payments SELECT g, g, repeat('x', 200) FROM generate_series(%d, 60000) g;" % (ROWS + 1))
    run = subprocess.Popen(host.python + [str(host.root / "install" / "squaremcp_backup.py"), "--config",
                                          str(host.config_path)], env=dict(os.environ, **host.python_env),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (pid := _restic_feeding("/squaremcp/app-postgres/app.sql")) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid, "the backup never started restic"
    os.kill(pid, signal.SIGSTOP)  # restic stops reading: pg_dump blocks inside its COPY
    try:
        while stack.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.payments%';",
                         database="postgres") != "1" and time.monotonic() < deadline:
            time.sleep(0.1)
        stack.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'COPY public.payments%';",
                   database="postgres")
    finally:
        os.kill(pid, signal.SIGCONT)
    out, _err = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "app-postgres (postgres %s/postgres): the dump of app failed after" % stack.project in out
    assert "(exit code 1): pg_dump: error: Dumping the contents of table \"payments\" failed" in out
    assert "no snapshot of it was written" in out
    assert len(host.snapshots(local, "source=app-postgres")) == 1  # only the earlier, complete one
    failed(host, "local")


def test_a_snapshot_that_does_not_exist(stack, host, tmp_path):
    local = host.repository("local")
    backed_up(host, [local], stack.sources("cache-redis"))
    stack.redis("SET", "written:later", "1")
    before = stack.state()
    missing = restore(host, tmp_path, repository="local", snapshot="deadbeef00")
    assert missing["failed"] and not missing["changed"]
    assert missing["msg"].startswith("snapshot 'deadbeef00' not found in repository local (%s) for host sq-test-1 "
                                     "(newest runs: " % local["url"])
    unknown = restore(host, tmp_path, repository="nowhere")
    assert unknown["msg"] == "no repository named 'nowhere' in backup_repositories (known: local)"
    assert stack.state() == before


def test_the_lock_of_another_run(stack, host):
    from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileLock
    local = host.repository("local")
    backed_up(host, [local], stack.sources("cache-redis"))
    previous = host.metrics()["last_run_timestamp_seconds"]["local"]
    with FileLock(str(host.root / "state" / "backup.lock"), timeout=1):
        done = host.entry("backup")
    assert done.returncode == 2
    assert "another run holds the lock on %s (pid %d) and did not release it within 5s" % (
        host.root / "state" / "backup.lock", os.getpid()) in done.stderr
    assert host.metrics()["last_run_timestamp_seconds"]["local"] > previous


def test_a_password_file_missing_in_the_container(stack, host):
    local = host.repository("local")
    sources = stack.sources("shop-mariadb")
    sources[0]["password_file"] = "/run/secrets/not_there"
    host.configure([local], sources)
    host.entry("init")
    done = host.entry("backup")
    assert done.returncode == 1
    assert "the password_file /run/secrets/not_there cannot be read in the container" in done.stdout
    assert host.snapshots(local, "source=shop-mariadb") == []
    failed(host, "local")


def test_a_corrupted_repository_fails_the_check(stack, host):
    local = host.repository("local")
    backed_up(host, [local], stack.sources("app-postgres"))
    pack = next(p for p in sorted((Path(local["url"]) / "data").rglob("*")) if p.is_file())
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.chmod(0o600)
    pack.write_bytes(bytes(data))
    host.configure([local], stack.sources("app-postgres"), check_subset="100%")
    done = host.entry("check")
    assert done.returncode == 1
    assert "repository local (%s): checking the repository (read 100%% of the data) failed" % local["url"] in done.stdout
    assert host.metrics()["check_success"] == {"local": 0.0}


def test_a_stale_restic_lock_is_removed(stack, host):
    local = host.repository("local")
    backed_up(host, [local], stack.sources("cache-redis"))
    env = dict(os.environ, RESTIC_REPOSITORY=local["url"], RESTIC_PASSWORD_FILE=str(host.root / "credentials" / "local-password"))
    holder = subprocess.Popen(["restic", "backup", "--stdin", "--stdin-filename", "/x"], stdin=subprocess.PIPE, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    # A lock restic has finished writing (its local backend writes <id>-tmp-<n> first, then renames it).
    while not [p for p in (Path(local["url"]) / "locks").iterdir() if "-tmp-" not in p.name] and time.monotonic() < deadline:
        time.sleep(0.1)
    holder.kill()  # dies holding its lock
    holder.wait()
    assert list((Path(local["url"]) / "locks").iterdir())
    done = host.entry("backup")
    assert done.returncode == 0, done.stdout
    assert not list((Path(local["url"]) / "locks").iterdir())

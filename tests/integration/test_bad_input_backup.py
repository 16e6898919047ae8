# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.restic_backup / restic_restore under abuse, through ansible-playbook (issue 13's classes):
symbolic links are never backed up, restored, written or flagged through (a linked source directory, a
linked restore target, a planted staging link, a linked metrics file, a dangling maintenance flag), and a
person's run that meets the timer's lock fails with a message and changes nothing. Every refused case
leaves every file byte for byte as it was (mode, owner, inode, mtime)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileLock
from tests.badinput import run_cases, state
from tests.integration.backup_env import host, stack  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.slow

BACKUP = "squaremcp.infra.restic_backup"
RESTORE = "squaremcp.infra.restic_restore"


def tree(base, name, files):
    """``base/name`` holding ``files`` ({relative path: text}); returns its path."""
    root = base / name
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    root.mkdir(parents=True, exist_ok=True)
    return root


def variant(host, config, name, **changes):  # pylint: disable=redefined-outer-name
    """A copy of ``config`` with ``changes``, written beside the host's configuration; its path."""
    path = host.root / ("%s.json" % name)
    path.write_text(json.dumps(dict(config, **changes), indent=1))
    return str(path)


def test_links_are_never_backed_up_or_written_through(stack, host, tmp_path):
    base = tmp_path / "case"
    outside = tree(base, "outside", {"acme.json": "{\"certificates\": []}\n", "metrics.prom": "# not ours\n"})
    os.symlink(str(outside), str(base / "acme-link"))
    local = host.repository("local")
    config = host.configure([local], stack.sources("cache-redis"))
    assert host.entry("init").returncode == 0
    cases = {
        "source-link": {"config": variant(host, config, "source-link", sources=[
            {"name": "acme", "type": "path", "path": str(base / "acme-link")}])},
        "metrics-link": {"config": variant(host, config, "metrics-link", metrics_path=str(base / "metrics-link.prom"))},
    }
    os.symlink(str(outside / "metrics.prom"), str(base / "metrics-link.prom"))
    before = state(base)
    run = run_cases(tmp_path, BACKUP, cases, diff=True)
    linked = run["source-link"]
    assert linked.get("failed"), linked
    assert "acme (path %s): %s is a symbolic link (to %s): restic would save the link, not the data; name the " \
           "directory itself in backup_sources" % (base / "acme-link", base / "acme-link", outside) in linked["msg"]
    assert host.snapshots(local, "source=acme") == []
    metrics = host.metrics()  # the metrics show the failed run (BackupStale fires on them)
    assert metrics["last_success_timestamp_seconds"]["local"] == 0 < metrics["last_run_timestamp_seconds"]["local"]
    metrics = run["metrics-link"]
    assert not metrics.get("failed"), metrics.get("msg")  # the backup itself is fine ...
    assert "metrics not written to %s: %s is a symbolic link" % (base / "metrics-link.prom", base / "metrics-link.prom") \
        in " ".join(run.output.split())  # ... the warning names the link
    assert state(base) == before  # neither the linked directory nor the linked metrics file was touched


def test_restores_refuse_links_and_never_flag_through_one(stack, host, tmp_path):
    base = tmp_path / "case"
    outside = tree(base, "outside", {"keep.txt": "outside the restored directories\n"})
    target = tree(base, "target", {"repo/HEAD": "ref: refs/heads/main\n", "notes.txt": "saved\n"})
    staged = tree(base, "staged", {"notes.txt": "saved\n"})
    maintenance = base / "maintenance"
    maintenance.mkdir()
    local = host.repository("local")
    sources = stack.sources("cache-redis") + [{"name": "target", "type": "path", "path": str(target)},
                                              {"name": "staged", "type": "path", "path": str(staged)}]
    config = host.configure([local], sources, maintenance_dir=str(maintenance))
    assert host.entry("init").returncode == 0
    done = host.entry("backup")
    assert done.returncode == 0, done.stdout + done.stderr
    # the restore target replaced by a link to another directory; a staging link planted beside an emptied one
    shutil.rmtree(str(target))
    os.symlink(str(outside), str(target))
    os.unlink(str(staged / "notes.txt"))
    os.symlink(str(outside), str(base / ".squaremcp-restore-staged.old"))
    # the Redis restore stops the project: its maintenance flag is a dangling link to a file that must not appear
    os.symlink(str(base / "outside" / "created-through-the-flag"), str(maintenance / stack.project))
    stack.redis("FLUSHALL")
    config_path = variant(host, config, "restore")
    cases = {
        "target-link": {"config": config_path, "repository": "local", "sources": ["target"]},
        "staging-link": {"config": config_path, "repository": "local", "sources": ["staged"]},
        "flag-link": {"config": config_path, "repository": "local", "sources": ["cache-redis"]},
    }
    before = state(base)
    run = run_cases(tmp_path, RESTORE, cases, diff=True)
    assert run["target-link"].get("failed") and not run["target-link"]["changed"]
    assert "target (path %s): %s is a symbolic link (to %s): refusing to restore through it; name the directory " \
           "itself in backup_sources; nothing was restored" % (target, target, outside) == run["target-link"]["msg"]
    assert run["staging-link"].get("failed") and not run["staging-link"]["changed"]
    assert "%s is a symbolic link (to %s): refusing to restore through it; remove the link" % (
        base / ".squaremcp-restore-staged.old", outside) in run["staging-link"]["msg"]
    flagged = run["flag-link"]
    assert not flagged.get("failed") and flagged["changed"], flagged.get("msg")
    assert "the maintenance flag %s is a symbolic link: not written through it" % (maintenance / stack.project) \
        in " ".join(run.output.split())
    assert stack.state()["keys"]  # the keys came back
    assert state(base) == before  # no file written, moved or created through any of the links


def test_a_person_meets_the_timers_lock(stack, host, tmp_path):
    local = host.repository("local")
    host.configure([local], stack.sources("cache-redis"))
    assert host.entry("init").returncode == 0
    assert host.entry("backup").returncode == 0
    stack.redis("SET", "written:later", "1")
    before_stack, before_host = stack.state(), state(host.root / "repos")
    lock_path = host.root / "state" / "backup.lock"
    (tmp_path / "again").mkdir()
    with FileLock(str(lock_path), timeout=1):  # the timer's run, holding the lock
        run = run_cases(tmp_path, RESTORE, {
            "restore": {"config": str(host.config_path), "repository": "local", "force": True},
        })
        again = run_cases(tmp_path / "again", BACKUP, {
            "backup": {"config": str(host.config_path)},
        })
    for result in (run["restore"], again["backup"]):
        assert result.get("failed") and not result.get("changed"), result
        assert "another run holds the lock on %s (pid %d) and did not release it within 5s" % (lock_path, os.getpid()) \
            in result["msg"], result["msg"]
    assert stack.state() == before_stack  # the newer key is still there: nothing was restored over it
    assert state(host.root / "repos") == before_host  # no snapshot was written

# -*- coding: utf-8 -*-
"""Backups and restores end to end with the real parts: restic from Debian, PostgreSQL, MariaDB and
Redis servers in containers (dumps taken inside them), the timer's entry point under Debian's
python3, and restic_restore through ansible-playbook. Every known row, key and file comes back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.backup_env import ROWS, host, restore, stack  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_backup_to_two_repositories_then_restore_everything_onto_an_empty_stack(stack, host, tmp_path):
    local, second = host.repository("local"), host.repository("second")
    maintenance = host.root / "maintenance"
    maintenance.mkdir()
    (maintenance / "someone-elses").write_text("")
    host.configure([local, second], stack.sources(), maintenance_dir=str(maintenance))
    assert host.entry("init").returncode == 0
    before = stack.state()
    done = host.entry("backup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "complete in 2 repositories: 4 snapshot(s)" in done.stdout
    assert "rows {'public.payments': %d}" % ROWS in done.stdout and "rows {'orders': 3}" in done.stdout
    metrics = host.metrics()
    assert metrics["last_success_timestamp_seconds"]["local"] == metrics["last_run_timestamp_seconds"]["local"] > 0
    assert metrics["snapshot_files"]["second"] >= 4 and metrics["snapshot_size_bytes"]["second"] > 1000
    for repository in (local, second):
        assert {s["paths"][0] for s in host.snapshots(repository, "squaremcp")} >= {
            "/squaremcp/app-postgres/app.sql", "/squaremcp/shop-mariadb/shop.sql", "/squaremcp/cache-redis/dump.rdb",
            "/squaremcp/manifest.json"}
    # The dumps exist only inside restic: nothing under the host's state, cache or temporary directories.
    leftovers = [p for p in host.root.rglob("*") if p.is_file() and p.suffix in (".sql", ".rdb")]
    assert leftovers == []

    stack.psql("DROP TABLE payments;")
    stack.mariadb("DROP DATABASE shop;")
    stack.redis("FLUSHALL")
    for child in stack.volume().iterdir():
        shutil.rmtree(child)
    planned = restore(host, tmp_path, check=True, repository="second")
    assert not planned.get("failed"), planned["msg"]
    assert [i["action"] for i in planned["items"]] == ["would restore"] * 4
    assert stack.state()["orders"] is None  # check mode changed nothing

    restored = restore(host, tmp_path, repository="second", diff=True)
    assert not restored.get("failed"), restored["msg"]
    assert restored["changed"] and [i["verified"] for i in restored["items"]] == [True] * 4
    assert stack.state() == before
    assert "| app-postgres/app | postgres |" in restored["report"] and "git fsck --full passed" in restored["report"]
    assert [p.name for p in maintenance.iterdir()] == ["someone-elses"]  # its own flags (redis, gitea) are gone

    again = restore(host, tmp_path, repository="second")
    assert not again.get("failed") and not again["changed"], again["msg"]
    assert [i["action"] for i in again["items"]] == ["unchanged"] * 4 and [i["verified"] for i in again["items"]] == [True] * 4


def test_a_restore_onto_newer_data_is_refused_and_force_keeps_that_data(stack, host, tmp_path):
    local = host.repository("local")
    host.configure([local], stack.sources("app-postgres", "cache-redis"))
    host.entry("init")
    assert host.entry("backup").returncode == 0
    stack.psql("INSERT INTO payments VALUES (1000, 1, 'written after the backup');")
    newer = stack.state()

    refused = restore(host, tmp_path, repository="local")
    assert refused["failed"] and not refused["changed"]
    assert "app-postgres/app: public.payments: %d rows on the host, %d in the snapshot" % (ROWS + 1, ROWS) in refused["msg"]
    assert "run again with force=true" in refused["msg"]
    assert [i["action"] for i in refused["items"]] == ["refused", "unchanged"]
    assert stack.state() == newer

    forced = restore(host, tmp_path, repository="local", force=True)
    assert not forced.get("failed") and forced["changed"], forced["msg"]
    assert stack.psql("SELECT count(*) FROM payments;") == str(ROWS)
    safety = forced["safety_run"]
    assert safety and host.snapshots(local, "run=" + safety, "pre-restore")

    # No data lost: the pre-restore run brings the newer row back.
    back = restore(host, tmp_path, repository="local", snapshot=safety, force=True, sources=["app-postgres"])
    assert not back.get("failed"), back["msg"]
    assert stack.state() == newer


def test_latest_is_the_newest_complete_run_and_a_named_run_works(stack, host, tmp_path):
    local = host.repository("local")
    host.configure([local], stack.sources("app-postgres"), retention={"last": 5, "daily": 7})
    host.entry("init")
    assert host.entry("backup").returncode == 0
    first = host.snapshots(local, "manifest")[0]
    stack.psql("DELETE FROM payments WHERE id > 5;")
    assert host.entry("backup").returncode == 0
    stack.psql("DELETE FROM payments;")
    latest = restore(host, tmp_path, repository="local")
    assert not latest.get("failed") and stack.psql("SELECT count(*) FROM payments;") == "5"
    run = [t for t in first["tags"] if t.startswith("run=")][0][4:]
    named = restore(host, tmp_path, repository="local", snapshot=run, force=True)
    assert not named.get("failed") and named["run"] == run, named["msg"]
    assert stack.psql("SELECT count(*) FROM payments;") == str(ROWS)
    by_id = restore(host, tmp_path, repository="local", snapshot=first["id"][:10], check=True)
    assert by_id["run"] == run and [i["action"] for i in by_id["items"]] == ["unchanged"]


def test_retention_forgets_whole_runs_by_restics_policy(stack, host):
    local = host.repository("local")
    host.configure([local], stack.sources("cache-redis"), retention={"daily": 1, "weekly": 0, "monthly": 0})
    host.entry("init")
    for _run in range(3):
        assert host.entry("backup").returncode == 0
    manifests = host.snapshots(local, "manifest")
    assert len(manifests) == 1  # three runs on the same day, keep-daily 1: the newest run stays, whole
    run = [t for t in manifests[0]["tags"] if t.startswith("run=")][0]
    assert {tuple(sorted(s["tags"])) for s in host.snapshots(local, "squaremcp")} == {
        tuple(sorted(["squaremcp", run, "manifest", "complete"])), tuple(sorted(["squaremcp", run, "source=cache-redis"]))}
    assert "no errors were found" in host.restic(local, "check").stdout


def test_weekly_check_reports_success(stack, host):
    local = host.repository("local")
    host.configure([local], stack.sources("cache-redis"), check_subset="100%")
    host.entry("init")
    done = host.entry("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert host.metrics() == {"check_success": {"local": 1.0}}


def runbook(host, tmp_path, *args):
    """playbooks/runbooks/restore.yml on localhost as a Docker host, with the test configuration."""
    tmp_path.mkdir()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {"docker_hosts": {"hosts": {"sq-test-1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False,
        "backup_config_file": str(host.config_path), "runbook_report_dir": str(tmp_path / "reports"),
        "backup_repositories": [{"name": "local", "url": "/x"}]}}}}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_HOME=str(tmp_path / "ansible-home"),
               ANSIBLE_NOCOLOR="1")
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           str(ROOT / "playbooks" / "runbooks" / "restore.yml")] + list(args), cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    reports = sorted((tmp_path / "reports").glob("restore-sq-test-1-*")) if (tmp_path / "reports").exists() else []
    return done, reports


def test_the_runbook_reports_lists_refuses_and_restores(stack, host, tmp_path):
    local = host.repository("local")
    host.configure([local], stack.sources("app-postgres", "cache-redis"))
    host.entry("init")
    assert host.entry("backup").returncode == 0
    stack.redis("FLUSHALL")
    stack.psql("INSERT INTO payments VALUES (1000, 1, 'newer');")
    before = stack.state()

    listed, reports = runbook(host, tmp_path / "check", "--check")
    assert listed.returncode == 0, listed.stdout[-3000:]
    report = json.loads(reports[0].read_text()) if reports[0].suffix == ".json" else json.loads(reports[1].read_text())
    assert report["check_mode"] and [(i["source"], i["state"], i["action"]) for i in report["items"]] == [
        ("app-postgres", "differs", "refused"), ("cache-redis", "empty", "held back")]
    assert [p.suffix for p in reports] == [".json", ".md"] and reports[0].stem == reports[1].stem
    assert stack.state() == before

    refused, reports = runbook(host, tmp_path / "refused")
    assert refused.returncode != 0 and "Refusing to restore over it" in refused.stdout
    assert "| app-postgres/app | postgres |" in [p for p in reports if p.suffix == ".md"][0].read_text()
    assert stack.state() == before

    forced, reports = runbook(host, tmp_path / "forced", "-e", "force=true")
    assert forced.returncode == 0, forced.stdout[-3000:]
    report = json.loads([p for p in reports if p.suffix == ".json"][0].read_text())
    assert report["safety_run"] and [i["verified"] for i in report["items"]] == [True, True]
    assert stack.psql("SELECT count(*) FROM payments;") == str(ROWS)

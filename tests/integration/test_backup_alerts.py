# -*- coding: utf-8 -*-
"""roles/monitoring/files/rules/backup.rules.yml under promtool (Debian's prometheus package, unpacked
into .cache): `check rules`, `test rules` on synthetic series, and on the series the backup itself
writes: a complete run, a run whose repository refuses the password (never succeeded), and a
check of a corrupted repository.

promtool evaluates from t=0 (time() is the evaluation time): the writer's clock is placed at
EPOCH + 10 days and the cases are evaluated from there.
"""

from __future__ import annotations

import datetime
import os

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup as backup
from tests.integration.backup_env import Host, ensure_restic
from tests.integration.test_cert_rotation_alerts import TARGET, as_input_series, run_promtool, series

pytestmark = pytest.mark.slow
RULES = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "monitoring", "files", "rules", "backup.rules.yml")
ALERTS = ["BackupStale", "BackupCheckFailed"]
HOUR = 3600
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def stale(repository, left):
    return ({"repository": repository, "severity": "critical"},
            "No complete backup of edge-1:9100 to repository %s for %s: see journalctl -u squaremcp-backup and systemctl "
            "list-timers squaremcp-backup.timer" % (repository, left))


def check_failed(repository):
    return ({"repository": repository, "severity": "critical"},
            "restic check of repository %s of edge-1:9100 failed: see journalctl -u squaremcp-backup-check; back up to "
            "another repository until it passes" % repository)


def expect(eval_time, alerts):
    return [{"eval_time": eval_time, "alertname": name, "exp_alerts": [
        {"exp_labels": dict(TARGET, **labels), "exp_annotations": {"summary": summary}} for labels, summary in alerts.get(name, [])]}
        for name in ALERTS]


def promtool_test(promtool, tmp_path, cases):
    spec = {"rule_files": [os.path.abspath(RULES)], "evaluation_interval": "1h",
            "tests": [{"interval": interval, "input_series": inputs, "alert_rule_test": checks} for interval, inputs, checks in cases]}
    path = tmp_path / "tests.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
    return run_promtool(promtool, "test", "rules", str(path))


def metric(short, repository, values):
    return series("squaremcp_backup_" + short, {"repository": repository}, values)


def test_rules_file_is_valid_and_has_both_alerts(promtool, tmp_path):
    checked = run_promtool(promtool, "check", "rules", RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout
    rules = [rule for group in yaml.safe_load(open(RULES).read())["groups"] for rule in group["rules"]]
    assert [r["alert"] for r in rules] == ALERTS and all(r["labels"]["severity"] and r["annotations"]["summary"] for r in rules)


def test_rules_on_synthetic_series(promtool, tmp_path):
    daily = [  # hourly samples over three days; a complete run every 24h until hour 24, then none
        metric("last_success_timestamp_seconds", "offsite", "0+0x23 %d+0x48" % (23 * HOUR)),
        metric("check_success", "offsite", "1+0x23 0+0x48"),
    ]
    # Evaluated hourly: a rule true at one evaluation fires at the next (for: 15m / 5m).
    cases = [("1h", daily, expect("1d", {})  # the first day: the run at t=0 is 24h old, below 36h
              + expect("2d12h", {"BackupCheckFailed": [check_failed("offsite")]})  # 37h since the hour-23 run: pending
              + expect("2d13h", {"BackupCheckFailed": [check_failed("offsite")], "BackupStale": [stale("offsite", "1d 14h 0m 0s")]}))]
    tested = promtool_test(promtool, tmp_path, cases)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_test_rules_can_fail(promtool, tmp_path):
    tested = promtool_test(promtool, tmp_path, [("1h", [metric("check_success", "local", "0+0x10")], expect("5h", {}))])
    assert tested.returncode != 0 and "BackupCheckFailed" in tested.stdout + tested.stderr


def module():
    with patch_module_args({}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_rules_on_the_series_the_backup_writes(promtool, tmp_path):
    ensure_restic()
    host = Host(tmp_path / "host")
    data = tmp_path / "acme"
    data.mkdir()
    (data / "acme.json").write_text("{}")
    local, offsite = host.repository("local"), host.repository("offsite")
    host.configure([local, offsite], [{"name": "traefik-acme", "type": "path", "path": str(data)}])
    config = backup.load_config(str(host.config_path))
    assert not backup.init_repositories(module(), config).failed
    now = EPOCH + datetime.timedelta(days=10)
    assert not backup.run_backup(module(), config, now=now).failed
    host.credential("offsite-password", "changed in the vault by mistake")
    assert backup.run_backup(module(), config, now=now + datetime.timedelta(days=1)).failed
    pack = next(p for p in sorted((tmp_path / "host" / "repos" / "local" / "data").rglob("*")) if p.is_file())
    pack.chmod(0o600)
    pack.write_bytes(pack.read_bytes()[:-40] + bytes(40))  # a damaged pack (a truncated one makes restic retry for minutes)
    host.configure([local, offsite], [{"name": "traefik-acme", "type": "path", "path": str(data)}], check_subset="100%")
    assert backup.run_check(module(), backup.load_config(str(host.config_path)), now=now).failed
    written = host.metrics_path.read_text()
    assert 'squaremcp_backup_last_success_timestamp_seconds{repository="offsite"} %.1f' % (now.timestamp()) in written
    # Both checks failed (corrupted pack, wrong password); offsite's last complete run is day 10, local's day 11.
    failed = [check_failed("local"), check_failed("offsite")]
    cases = [("1h", as_input_series(written, 300), expect("10d1h", {"BackupCheckFailed": failed})
              + expect("11d13h", {"BackupCheckFailed": failed})
              + expect("11d14h", {"BackupCheckFailed": failed, "BackupStale": [stale("offsite", "1d 14h 0m 0s")]}))]
    tested = promtool_test(promtool, tmp_path, cases)
    assert tested.returncode == 0, tested.stdout + tested.stderr

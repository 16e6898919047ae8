# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The callback squaremcp.infra.drift and the drift-check command (tools/drift-check) with real ansible-playbook
runs on localhost: exit 0 / 2 / 1, the JSON report, the metrics, and the faults that must end with a clear
message (wrong or missing vault password, missing credential, unwritable report or textfile, a second run while
one holds the lock, an unreachable host, a failed task)."""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.drift import record
from tests.unit.test_drift import CANARIES, replay

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "drift-check"
FIXTURE_PLAYBOOK = "tests/fixtures/drift/record.yml"


def metrics(path):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(path.read_text()) for s in family.samples}


def local_inventory(tmp_path, **hosts):
    path = tmp_path / "inventory.yml"
    path.write_text(json.dumps({"all": {"hosts": hosts or {"edge-1": {"ansible_connection": "local"}}}}))
    return path


def drift_check(tmp_path, *args, env=None):
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    environment = dict(os.environ, DRIFT_FIXTURE_DIR=str(files), ANSIBLE_ROLES_PATH=str(record.HERE / "roles"),
                       ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
                       **(env or {}))
    for name in ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_CALLBACKS_ENABLED", "CREDENTIALS_DIRECTORY"):
        if name not in (env or {}):
            environment.pop(name, None)
    return subprocess.run([str(TOOL), *args], capture_output=True, text=True, env=environment, cwd=str(tmp_path),
                          timeout=300, check=False)


def common(tmp_path, inventory=None):
    return ["-i", str(inventory or local_inventory(tmp_path)), "--playbook", FIXTURE_PLAYBOOK,
            "--report", str(tmp_path / "drift.json"), "--textfile", str(tmp_path / "squaremcp_drift.prom")]


def converge(tmp_path):
    """Run the fixture playbook for real (not in check mode) on the inventory drift_check ran with."""
    env = dict(os.environ, DRIFT_FIXTURE_DIR=str(tmp_path / "files"), ANSIBLE_ROLES_PATH=str(record.HERE / "roles"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_HOME=str(tmp_path / "ansible-home"))
    subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i",
                    str(tmp_path / "inventory.yml"), str(ROOT / FIXTURE_PLAYBOOK)], env=env, check=True,
                   capture_output=True, cwd=str(tmp_path), timeout=300)


def test_callback_report_matches_the_recorded_results(tmp_path):
    """The real callback on record.yml gives what the unit tests get from replaying results.jsonl."""
    files = tmp_path / "files"
    files.mkdir()
    record.prepare(files)
    report_path = tmp_path / "drift.json"
    done = record.run(files, {"ANSIBLE_CALLBACKS_ENABLED": "squaremcp.infra.drift",
                              "SQUAREMCP_DRIFT_REPORT": str(report_path)})
    assert done.returncode == 4, done.stdout + done.stderr  # a failed and an unreachable host
    assert "DRIFT: 13 task(s) would change on 2 host(s); failed: fails; unreachable: gone" in done.stdout
    real = json.loads(report_path.read_text().replace(str(files), record.PLACEHOLDER))
    replayed = json.loads(json.dumps(replay().report()))

    def comparable(report):
        return {name: {"drifted": [(c["task"], c["role"], c.get("items"), c["diff"]) for c in host["drifted"]],
                       "failed": host["failed"], "unreachable": host["unreachable"]}
                for name, host in report["hosts"].items()}

    assert comparable(real) == comparable(replayed)
    assert real["check_mode"] is True and real["complete"] is True
    assert [c for c in CANARIES if c in report_path.read_text()] == []


def test_exit_0_without_drift_2_with_drift_and_metrics(tmp_path):
    drifted = drift_check(tmp_path, *common(tmp_path))
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    assert "drift check: DRIFT - 8 task(s) would change on 1 host(s) (edge-1)" in drifted.stdout
    values = metrics(tmp_path / "squaremcp_drift.prom")
    assert values[("squaremcp_drift_tasks", (("host", "edge-1"),))] == 8
    assert values[("squaremcp_drift_host_failed", (("host", "edge-1"),))] == 0
    first_success = values[("squaremcp_drift_last_success_timestamp_seconds", ())]

    converge(tmp_path)  # the same playbook for real, then the check finds nothing
    clean = drift_check(tmp_path, *common(tmp_path))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "drift check: no drift - 0 task(s)" in clean.stdout
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["drifted_tasks"] == 0 and report["hosts"]["edge-1"]["drifted"] == []
    values = metrics(tmp_path / "squaremcp_drift.prom")
    assert values[("squaremcp_drift_tasks", (("host", "edge-1"),))] == 0
    assert values[("squaremcp_drift_last_success_timestamp_seconds", ())] >= first_success


def test_unreachable_and_failed_hosts_exit_1_and_are_named(tmp_path):
    inventory = local_inventory(tmp_path, fails={"ansible_connection": "local"},
                                gone={"ansible_host": "127.0.0.1", "ansible_port": 1,
                                      "ansible_ssh_common_args": "-o ConnectTimeout=2"})
    result = drift_check(tmp_path, *common(tmp_path, inventory))
    assert result.returncode == 1
    assert "fails: FAILED Failure with a secret in its message: cannot log in with password: <redacted>" in result.stdout
    assert "gone: UNREACHABLE" in result.stdout
    assert [c for c in CANARIES if c in result.stdout + result.stderr] == []
    values = metrics(tmp_path / "squaremcp_drift.prom")
    assert values[("squaremcp_drift_host_failed", (("host", "gone"),))] == 1
    assert values[("squaremcp_drift_host_failed", (("host", "fails"),))] == 1
    assert ("squaremcp_drift_last_success_timestamp_seconds", ()) not in values


def test_ansible_output_is_shown_only_redacted(tmp_path):
    result = drift_check(tmp_path, *common(tmp_path), "--show-output")
    assert result.returncode == 2 and "TASK [Changed file whose diff holds secrets]" in result.stdout
    assert "GODADDY_API_SECRET=<redacted>" in result.stdout
    assert [c for c in CANARIES if c in result.stdout + result.stderr] == []


@pytest.fixture
def vaulted(tmp_path):
    """An inventory whose host variable is vault-encrypted with the password 'right'."""
    password = tmp_path / "right.pass"
    password.write_text("right\n")
    encrypted = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-vault"), "encrypt_string",
                                "--vault-password-file", str(password), "vault-value", "--name", "fixture_secret"],
                               capture_output=True, text=True, check=True).stdout
    inventory = tmp_path / "vaulted"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    edge-1:\n      ansible_connection: local\n")
    (inventory / "host_vars" / "edge-1.yml").write_text("---\n" + encrypted)
    return inventory, password


def previous_metrics(tmp_path):
    (tmp_path / "squaremcp_drift.prom").write_text(
        'squaremcp_drift_tasks{host="edge-1"} 3\nsquaremcp_drift_host_failed{host="edge-1"} 0\n'
        "squaremcp_drift_last_run_timestamp_seconds 100\nsquaremcp_drift_last_success_timestamp_seconds 100\n")


def assert_failure_recorded(tmp_path, message):
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["complete"] is False and message in report["error"]
    values = metrics(tmp_path / "squaremcp_drift.prom")
    assert values[("squaremcp_drift_host_failed", (("host", "edge-1"),))] == 1
    assert values[("squaremcp_drift_tasks", (("host", "edge-1"),))] == 3
    assert values[("squaremcp_drift_last_success_timestamp_seconds", ())] == 100
    assert values[("squaremcp_drift_last_run_timestamp_seconds", ())] > 100


def test_wrong_vault_password_is_an_error_with_metrics(tmp_path, vaulted):
    inventory, _right = vaulted
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("wrong\n")
    previous_metrics(tmp_path)
    result = drift_check(tmp_path, *common(tmp_path, inventory), "--vault-password-file", str(wrong))
    assert result.returncode == 1
    assert "edge-1: FAILED Use a vault-encrypted variable (when the inventory has one): " in result.stdout
    assert "Decryption failed" in result.stdout
    values = metrics(tmp_path / "squaremcp_drift.prom")
    assert values[("squaremcp_drift_host_failed", (("host", "edge-1"),))] == 1
    assert values[("squaremcp_drift_last_success_timestamp_seconds", ())] == 100

    right = drift_check(tmp_path, *common(tmp_path, inventory), "--vault-password-file", str(vaulted[1]))
    assert right.returncode == 2, right.stdout + right.stderr


def test_missing_vault_credential_is_an_error_with_metrics(tmp_path, vaulted):
    inventory, _right = vaulted
    previous_metrics(tmp_path)
    outside = drift_check(tmp_path, *common(tmp_path, inventory), "--vault-credential", "vault-password")
    assert outside.returncode == 1
    assert "$CREDENTIALS_DIRECTORY is not set, so this is not running under systemd" in outside.stderr
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    missing = drift_check(tmp_path, *common(tmp_path, inventory), "--vault-credential", "vault-password",
                          env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert missing.returncode == 1
    assert "the vault credential vault-password is missing or empty in %s" % credentials in missing.stderr
    assert_failure_recorded(tmp_path, "vault credential vault-password is missing")

    (credentials / "vault-password").write_text("right\n")
    present = drift_check(tmp_path, *common(tmp_path, inventory), "--vault-credential", "vault-password",
                          env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert present.returncode == 2, present.stdout + present.stderr


def test_unwritable_report_directory_is_named(tmp_path):
    args = common(tmp_path)
    args[args.index("--report") + 1] = str(tmp_path / "no-such-dir" / "drift.json")
    result = drift_check(tmp_path, *args)
    assert result.returncode == 1
    assert "no-such-dir" in result.stderr and "create it or fix the path" in result.stderr


def test_textfile_that_is_not_prom_is_refused_by_the_callback(tmp_path):
    args = common(tmp_path)
    args[args.index("--textfile") + 1] = str(tmp_path / "drift.txt")
    result = drift_check(tmp_path, *args, "--show-output")
    assert "no metrics written" in result.stdout and "only *.prom" in result.stdout
    assert not (tmp_path / "drift.txt").exists()


def test_a_second_run_waits_for_the_lock_then_gives_up_clearly(tmp_path):
    lock_path = tmp_path / "drift.json.lock"
    with open(lock_path, "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        result = drift_check(tmp_path, *common(tmp_path), "--lock-timeout", "1")
    # _files.FileLock names the holder from /proc/locks (it never writes into the lock file)
    assert result.returncode == 1 and "another run holds the lock" in result.stderr
    assert "(pid %d)" % os.getpid() in result.stderr, result.stderr
    assert not (tmp_path / "drift.json").exists() and not (tmp_path / "squaremcp_drift.prom").exists()


def test_unknown_playbook_is_an_error(tmp_path):
    args = common(tmp_path)
    args[args.index("--playbook") + 1] = "playbooks/no-such.yml"
    result = drift_check(tmp_path, *args)
    assert result.returncode == 1 and "no-such.yml" in result.stderr
    assert json.loads((tmp_path / "drift.json").read_text())["complete"] is False


def test_role_refuses_a_missing_vault_password_file(tmp_path):
    """The drift_check role stops in its preflight, before anything changes (run in check mode for safety)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "control", "gather_facts": False,
                                     "roles": [{"role": "squaremcp.infra.drift_check"}]}]))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"control": {"hosts": {"control-1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "drift_check_vault_password_file": str(tmp_path / "no-such-password-file"),
        "drift_check_project_src": str(ROOT), "drift_check_inventory_src": str(tmp_path)}}}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                             str(playbook), "--check"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode != 0
    assert "drift_check_vault_password_file %s is missing or empty on the controller" % (
        tmp_path / "no-such-password-file") in result.stdout
    assert "Install Python's venv" not in result.stdout

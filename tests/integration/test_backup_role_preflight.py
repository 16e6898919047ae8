# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup role refuses inventories it cannot back up with, before it changes anything, with a
message naming the variable and the fix and never a secret value.

One ansible-playbook run on localhost (check mode, ``--tags backup_preflight``: argument spec
validation and the preflight only) with one inventory alias per case.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-value-never-printed"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey-material-never-printed\n-----END OPENSSH PRIVATE KEY-----"
LOCAL = {"name": "local", "url": "/var/backups/restic/h", "password": SECRET}
OFFSITE = {"name": "offsite", "url": "sftp:restic@backup.example.net:/srv/restic/h", "password": SECRET + "-2",
           "ssh_key": KEY, "known_hosts": "backup.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOOUFg7Qdq5wnEPVa"}
SOURCES = [{"name": "fetcherpay-postgres", "type": "postgres", "project": "fetcherpay", "service": "postgres"}]
GOOD = {"backup_repositories": [LOCAL, OFFSITE], "backup_sources": SOURCES}
PRODUCTION = dict(yaml.safe_load((ROOT / "inventory/production/group_vars/docker_hosts/backup.yml").read_text()),
                  **yaml.safe_load((ROOT / "inventory/production/vault.example.yml").read_text()))


def repositories(*entries):
    return {"backup_repositories": list(entries), "backup_sources": SOURCES}


CASES = {
    "good": (GOOD, None),
    "production_vault_example": (PRODUCTION, "backup_repositories[0] 'local': password is still the CHANGE_ME placeholder "
                                             "of vault.example.yml: put the real value in the vault "
                                             "(vault_backup_local_password)"),
    "no_repository": (repositories(), "backup_repositories is empty: give a local repository and at least one off-host"),
    "local_only": (repositories(LOCAL), "backup_repositories has no off-host repository (sftp:, s3:, rest: ...): a backup "
                                        "on the host's own disks is lost with the host"),
    "empty_password": (repositories(dict(LOCAL, password=" "), OFFSITE), "backup_repositories[0] 'local': password is empty"),
    "sftp_without_key": (repositories(LOCAL, {k: v for k, v in OFFSITE.items() if k != "ssh_key"}),
                         "backup_repositories[1] 'offsite': an SFTP repository needs ssh_key"),
    "sftp_without_host_key": (repositories(LOCAL, dict(OFFSITE, known_hosts="")),
                              "backup_repositories[1] 'offsite': known_hosts is empty: give the SFTP server's host key"),
    "s3_placeholder_key": (repositories(LOCAL, {"name": "s3", "url": "s3:https://s3.example.com/b/h", "password": SECRET,
                                                "env": {"AWS_ACCESS_KEY_ID": "CHANGE_ME", "AWS_SECRET_ACCESS_KEY": SECRET}}),
                           "backup_repositories[1] 's3': env AWS_ACCESS_KEY_ID is still the CHANGE_ME placeholder"),
    "same_name_twice": (repositories(LOCAL, dict(OFFSITE, name="local")), "the name(s) local are used twice"),
    "bad_source_type": (dict(GOOD, backup_sources=[dict(SOURCES[0], type="postgresql")]),
                        "value of type must be one of: postgres, mariadb, redis, volume, path, got: postgresql found in "
                        "backup_sources"),  # the role's argument spec
    "source_without_service": (dict(GOOD, backup_sources=[{"name": "db", "type": "mariadb", "project": "p"}]),
                               "backup_sources[0] 'db': a mariadb source names the Compose project and service"),
    "password_not_a_path": (dict(GOOD, backup_sources=[dict(SOURCES[0], password_file=SECRET)]),
                            "password_file is an absolute path inside the container"),
    "metrics_not_prom": (dict(GOOD, backup_metrics_file="/var/lib/prometheus/node-exporter/backup.txt"),
                         "backup_metrics_file must end in .prom"),
    "keep_nothing": (dict(GOOD, backup_keep_daily=0, backup_keep_weekly=0, backup_keep_monthly=0),
                     "are all 0: the pruning would remove every snapshot"),
    "repository_without_url": (repositories(LOCAL, {"name": "offsite", "password": SECRET}),
                               "missing required arguments: url found in backup_repositories"),
}


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    work = tmp_path_factory.mktemp("backup_preflight")
    hosts = {name: dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable)
             for name, (variables, _expected) in CASES.items()}
    (work / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (work / "play.yml").write_text(yaml.safe_dump([{
        "name": "Preflight", "hosts": "all", "gather_facts": False, "roles": [{"role": "squaremcp.infra.backup"}]}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_FORKS="20", ANSIBLE_HOME=str(work / "ansible-home"))
    result = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(work / "inventory.yml"),
         str(work / "play.yml"), "--check", "--tags", "backup_preflight", "-vv"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return json.loads(result.stdout[result.stdout.index("{"):]), result.stdout + result.stderr


def outcome(report, host):
    for task in report["plays"][0]["tasks"]:
        result = task["hosts"].get(host)
        if result and result.get("failed"):
            return True, " ".join(result.get("msg", "").split()) + json.dumps(result.get("argument_errors", []))
    return False, ""


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_preflight(played, case):
    report, _output = played
    failed, message = outcome(report, case)
    expected = CASES[case][1]
    if expected is None:
        assert not failed, message
    else:
        assert failed and expected in message, message


@pytest.mark.slow
def test_no_secret_value_in_any_output(played):
    _report, output = played
    assert output.count("PRIVATE KEY") == 0 and "key-material-never-printed" not in output
    assert SECRET not in output

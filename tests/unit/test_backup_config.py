# -*- coding: utf-8 -*-
"""The backup configuration (module_utils/_backup_config.py): what the role writes is accepted, and
every bad entry is refused with a message naming the role variable, the entry and the fix."""

from __future__ import annotations

import copy
import json

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _backup_config as cfg

GOOD = {
    "host": "sq-lab-1",
    "repositories": [
        {"name": "local", "url": "/var/backups/restic/sq-lab-1", "password": "local-password"},
        {"name": "offsite", "url": "sftp:restic@backup.example.com:/srv/restic/sq-lab-1", "password": "offsite-password",
         "ssh_key": "offsite-ssh-key", "known_hosts": "/etc/squaremcp/backup/known_hosts", "ssh_port": 2222},
        {"name": "s3", "url": "s3:https://s3.example.com/bucket/sq", "password": "s3-password",
         "env": {"AWS_ACCESS_KEY_ID": "s3-key-id", "AWS_SECRET_ACCESS_KEY": "s3-secret"}},
    ],
    "sources": [
        {"name": "fetcherpay-postgres", "type": "postgres", "project": "fetcherpay", "service": "postgres",
         "databases": ["fetcherpay"]},
        {"name": "fetcherpay-mysql", "type": "mariadb", "project": "fetcherpay", "service": "mysql",
         "password_file": "/run/secrets/mysql_root_password", "user": "root"},
        {"name": "fetcherpay-redis", "type": "redis", "project": "fetcherpay", "service": "redis"},
        {"name": "gitea-data", "type": "volume", "volume": "fetcherpay_gitea-data", "verify": "git"},
        {"name": "traefik-acme", "type": "path", "path": "/var/lib/traefik/acme", "stop_services": ["traefik/traefik"]},
    ],
    "retention": {"daily": 7, "weekly": 4, "monthly": 6},
    "check_subset": "5%",
    "metrics_path": "/var/lib/prometheus/node-exporter/squaremcp_backup.prom",
}


def test_the_role_configuration_is_accepted():
    config = cfg.parse(GOOD)
    assert [r.kind for r in config.repositories] == ["local", "sftp", "s3"]
    assert config.repository("offsite").ssh_port == 2222
    assert config.source("gitea-data").verify == "git"
    assert config.retention.restic_args() == ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]
    assert config.repositories[2].credential_names() == ["s3-password", "s3-key-id", "s3-secret"]


def test_credentials_come_from_systemd_when_it_provides_them(monkeypatch):
    config = cfg.parse(GOOD)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert config.credential_paths("local-password") == ["/etc/squaremcp/backup/credentials/local-password"]
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "/run/credentials/squaremcp-backup.service")
    assert config.credential_paths("local-password") == ["/run/credentials/squaremcp-backup.service/local-password",
                                                         "/etc/squaremcp/backup/credentials/local-password"]


def test_urls_lose_their_user_information_in_messages():
    assert cfg.redact_url("rest:https://backup:s3cr3t@rest.example.com/repo") == "rest:https://***@rest.example.com/repo"
    assert cfg.redact_url("sftp:restic@host:/srv") == "sftp:restic@host:/srv"  # no scheme //: a user, not a secret


def changed(path, value):
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


BAD = [
    (changed(["repositories"], []), "backup_repositories is empty"),
    (changed(["sources"], []), "backup_sources is empty"),
    (changed(["repositories", 0, "url"], "relative/path"), "backup_repositories[0] 'local': url 'relative/path' is neither"),
    (changed(["repositories", 1, "ssh_key"], ""), "backup_repositories[1] 'offsite': an SFTP repository needs ssh_key"),
    (changed(["repositories", 1, "known_hosts"], ""), "needs known_hosts (the server's host key is checked"),
    (changed(["repositories", 1, "url"], "sftp:backup.example.com/srv"), "an SFTP url is sftp:USER@HOST:/absolute/path"),
    (changed(["repositories", 0, "password"], "hunter2 with spaces"), "password must name a credential file"),
    (changed(["repositories", 2, "env"], {"RESTIC_PASSWORD": "x"}), "restic's own settings are not credentials"),
    (changed(["repositories", 1, "name"], "local"), "backup_repositories: the name(s) local are used twice"),
    (changed(["repositories", 0, "name"], "Local Repo"), "name must be lower-case letters"),
    (changed(["sources", 0, "type"], "postgresql"), "backup_sources[0] 'fetcherpay-postgres': type 'postgresql' is not one of"),
    (changed(["sources", 0, "service"], KeyError), "names the Compose project and service it runs in"),
    (changed(["sources", 1, "password_file"], "s3cr3t"), "password_file is an absolute path inside the container"),
    (changed(["sources", 2, "databases"], ["0"]), "databases is for postgres and mariadb"),
    (changed(["sources", 3, "volume"], ""), "a volume source names the Docker volume"),
    (changed(["sources", 4, "path"], "/"), "path must be an absolute directory other than /"),
    (changed(["sources", 4, "stop_services"], ["traefik"]), "stop_services entries are PROJECT/SERVICE"),
    (changed(["sources", 3, "verify"], "fsck"), "verify is '' or 'git'"),
    (changed(["sources", 4, "databses"], ["x"]), "unknown key(s) databses"),
    (changed(["sources", 4, "name"], "gitea-data"), "backup_sources: the name(s) gitea-data are used twice"),
    (changed(["retention"], {"daily": 0, "weekly": 0, "monthly": 0}), "the pruning would"),
    (changed(["retention", "daily"], -1), "backup_keep_daily must be a whole number >= 0"),
    (changed(["check_subset"], "half"), "backup_check_read_data_subset 'half' is not a restic subset"),
    (changed(["metrics_path"], "/var/lib/prometheus/node-exporter/backup.txt"), "backup_metrics_file must end in .prom"),
]


@pytest.mark.parametrize("data,message", BAD, ids=[m for _d, m in BAD])
def test_bad_configuration_is_refused_with_the_variable_and_the_fix(data, message):
    with pytest.raises(cfg.ConfigError) as error:
        cfg.parse(data)
    assert message in str(error.value)


def test_a_password_value_is_never_echoed():
    with pytest.raises(cfg.ConfigError) as error:
        cfg.parse(changed(["repositories", 0, "password"], "hunter2 with spaces"))
    assert "hunter2" not in str(error.value)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "backup.json"
    with pytest.raises(cfg.ConfigError, match="cannot read the backup configuration .*converge the backup role"):
        cfg.load(str(path))
    path.write_text("{not json")
    with pytest.raises(cfg.ConfigError, match="is not valid JSON"):
        cfg.load(str(path))
    path.write_text(json.dumps(changed(["sources"], [])))
    with pytest.raises(cfg.ConfigError, match="backup.json: backup_sources is empty"):
        cfg.load(str(path))

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restic_backup operation=init through ansible-playbook with Debian's restic: a converge does not open a
repository again (restic's key derivation) while the record of its last opening holds, and opens it again as soon
as the configuration, a credential file or the record's age says so. restic runs through a wrapper that logs each
call, so "not opened" is what restic saw, not what the module says."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.badinput import run_cases, texts
from tests.integration.backup_env import Host, ensure_restic

pytestmark = pytest.mark.slow

BACKUP = "squaremcp.infra.restic_backup"


@pytest.fixture
def host(tmp_path):
    restic = ensure_restic()
    found = Host(tmp_path / "host")
    found.calls = tmp_path / "restic-calls.log"
    wrapper = tmp_path / "restic"
    wrapper.write_text('#!/bin/sh\necho "$(basename "$RESTIC_REPOSITORY") $1 $2" >> %s\nexec %s "$@"\n' % (found.calls, restic))
    wrapper.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("x")
    found.layout = dict(restic=str(wrapper))
    found.source = [{"name": "data", "type": "path", "path": str(data)}]
    return found


def calls(host):
    lines = host.calls.read_text().splitlines() if host.calls.exists() else []
    host.calls.write_text("")
    return sorted(lines)


def init(host, tmp_path, name, check=False, **options):
    (tmp_path / name).mkdir()
    result = run_cases(tmp_path / name, BACKUP, {"init": dict(config=str(host.config_path), operation="init", **options)},
                       check=check).results["init"]
    return result


def test_a_converge_opens_each_repository_once_until_something_changes(host, tmp_path):
    local, second = host.repository("local"), host.repository("second")
    host.configure([local, second], host.source, **host.layout)
    record = host.root / "state" / "opened.json"

    dry = init(host, tmp_path, "check", check=True)
    assert dry["changed"] and not record.exists() and not (host.root / "repos" / "local").exists(), dry
    calls(host)

    first = init(host, tmp_path, "first")
    assert first["changed"] and not first.get("failed"), first
    assert calls(host) == ["local cat config", "local init ", "second cat config", "second init "]
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    kept = record.read_text()
    assert sorted(json.loads(kept)) == ["local", "second"]
    for secret in ("restic-local-test-only", "restic-second-test-only", str(host.root / "repos")):
        assert secret not in kept

    again = init(host, tmp_path, "again")
    assert not again["changed"] and not again.get("failed") and again["msg"] == "2 repositories ready", again
    assert calls(host) == []  # neither repository was opened
    assert all(r["complete"] for r in again["repositories"])

    host.credential("second-password", "restic-second-test-only")  # the same password, written again
    assert not init(host, tmp_path, "rewritten")["changed"]
    assert calls(host) == ["second cat config"]

    host.credential("second-password", "a password the repository does not know")
    wrong = init(host, tmp_path, "wrong")
    assert wrong.get("failed") and not wrong["changed"] and "wrong password" in wrong["msg"], wrong
    assert calls(host) == ["second cat config"]  # opened, refused, never initialised over
    assert "a password the repository does not know" not in "\n".join(texts(wrong)) + record.read_text()
    host.credential("second-password", "restic-second-test-only")
    assert not init(host, tmp_path, "right")["changed"]
    assert calls(host) == ["second cat config"]

    records = json.loads(record.read_text())
    records["local"]["opened"] -= 2 * 86400
    record.write_text(json.dumps(records))
    assert not init(host, tmp_path, "old")["changed"]
    assert calls(host) == ["local cat config"]

    assert not init(host, tmp_path, "always", reopen_after=0)["changed"]
    assert calls(host) == ["local cat config", "second cat config"]

    host.configure([local, second], host.source, check_subset="10%", **host.layout)  # any change of the configuration
    assert not init(host, tmp_path, "configured")["changed"]
    assert calls(host) == ["local cat config", "second cat config"]


def test_a_repository_removed_behind_the_record_is_created_again_once_the_record_expires(host, tmp_path):
    local = host.repository("local")
    host.configure([local], host.source, **host.layout)
    assert init(host, tmp_path, "first")["changed"]
    os.rename(host.root / "repos" / "local", host.root / "repos" / "gone")
    assert not init(host, tmp_path, "trusted")["changed"]  # the record holds: the nightly backup is what notices
    assert init(host, tmp_path, "reopened", reopen_after=0)["changed"]
    assert (host.root / "repos" / "local" / "config").is_file()


def test_a_negative_reopen_after_is_refused(host, tmp_path):
    host.configure([host.repository("local")], host.source, **host.layout)
    refused = init(host, tmp_path, "negative", reopen_after=-5)
    assert refused.get("failed") and refused["msg"] == \
        "reopen_after is -5: give 0 (open every repository) or a number of seconds", refused
    assert calls(host) == [] and not (host.root / "state" / "opened.json").exists()

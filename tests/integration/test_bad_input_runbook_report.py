# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.runbook_report under abuse, through ansible-playbook: a bad runbook name, a missing directory
and collected data of the wrong shape are refused with a message (no traceback) and write nothing; a previous
report that is a symbolic link is not read through; a report never replaces an existing file (a second run within
the same second gets new names); no secret in the collected data reaches the output (default verbosity: from -vvv
on, Ansible echoes the task's arguments), the module's result or the files.
Every refused case leaves every file byte for byte as it was (mode, owner, inode, mtime)."""

from __future__ import annotations

import datetime
import json
import os

import pytest

from tests.badinput import assert_secret_absent, run_cases, run_refused, state

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.runbook_report"
CANARY = "canary-pass-91c2"


def reports(tmp_path, case):
    base = tmp_path / case
    (base / "reports").mkdir(parents=True)
    (base / "outside").mkdir()
    return base


def test_refused_input_writes_nothing_and_says_why(tmp_path):
    names = ("bad-name", "missing-dir", "edge-not-a-mapping", "files-not-a-list")
    bases = {name: reports(tmp_path, name) for name in names}
    cases = {
        "bad-name": {"dir": str(bases["bad-name"] / "reports"), "runbook": "../edge"},
        "missing-dir": {"dir": str(bases["missing-dir"] / "nowhere"), "runbook": "edge_outage"},
        "edge-not-a-mapping": {"dir": str(bases["edge-not-a-mapping"] / "reports"), "runbook": "edge_outage",
                               "data": {"edge": {"edge1": "password: %s" % CANARY}}},
        "files-not-a-list": {"dir": str(bases["files-not-a-list"] / "reports"), "runbook": "edge_outage",
                             "data": {"edge": {"edge1": {"traefik": {"files": 7}}}}},
    }
    expected = {"bad-name": "lower case letters", "missing-dir": "set runbook_reports_dir in the inventory",
                "edge-not-a-mapping": "does not have the shape", "files-not-a-list": "does not have the shape"}
    run = run_refused(tmp_path, MODULE, cases, bases, expected, diff=True)
    assert_secret_absent(run, CANARY)


def test_links_existing_reports_and_secrets(tmp_path):
    base = reports(tmp_path, "abuse")
    directory = base / "reports"
    # a "previous report" that is a link to a file outside: not read through (its content never shows)
    outside = base / "outside" / "other.json"
    outside.write_text(json.dumps({"findings": [], "finished": "outside-%s" % CANARY}))
    os.chown(outside, 1234, 4321)
    os.chmod(outside, 0o600)
    os.symlink(str(outside), str(directory / "linked-29991231T235959Z.json"))
    # reports already there for every second of the next two minutes: the new ones must take other names
    now = datetime.datetime.now(datetime.timezone.utc)
    for second in range(-2, 120):
        stamp = (now + datetime.timedelta(seconds=second)).strftime("%Y%m%dT%H%M%SZ")
        for suffix in (".json", ".md"):
            (directory / ("planted-%s%s" % (stamp, suffix))).write_text(
                json.dumps({"findings": [], "finished": stamp}) if suffix == ".json" else "# planted\n")
    secret_data = {"hosts": {"edge1": {"reached": False, "error": "ssh: password: %s rejected" % CANARY}}}
    cases = {
        "linked": {"dir": str(directory), "runbook": "linked"},
        "planted": {"dir": str(directory), "runbook": "planted"},
        "secret": {"dir": str(directory), "runbook": "secret", "data": secret_data,
                   "expected": {"db_password": CANARY, "vault_token": CANARY}},
    }
    kept = {name: value for name, value in state(base).items() if name != "reports"}
    run = run_cases(tmp_path, MODULE, cases, diff=True)
    for name in cases:
        assert not run[name].get("failed") and run[name]["changed"], (name, run[name])
    assert any("is a symbolic link" in warning for warning in run["linked"]["warnings"]), run["linked"]
    assert "is a symbolic link" in run["linked"]["previous"]["error"]
    assert run["planted"]["json_path"].endswith("-2.json"), run["planted"]["json_path"]
    assert run["planted"]["previous"]["path"].startswith(str(directory / "planted-")), run["planted"]["previous"]
    after = state(base)
    assert {name: after[name] for name in kept} == kept  # the link, its target and every planted file untouched
    assert_secret_absent(run, CANARY)
    written = [run[name][key] for name in cases for key in ("json_path", "markdown_path")]
    assert len(set(written)) == 6
    for path in written:
        assert CANARY not in open(path).read(), path
        assert os.stat(path).st_mode & 0o777 == 0o640
    assert "could not collect from edge1" in open(run["secret"]["markdown_path"]).read()

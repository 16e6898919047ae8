# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift recorder (plugins/plugin_utils/_drift.py) on task results recorded from a real check-mode run
(tests/fixtures/drift/results.jsonl, made by tests/fixtures/drift/record.py), its report, exit codes and
textfile metrics (parsed back with prometheus_client)."""

from __future__ import annotations

import json
import os
import pathlib
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.squaremcp.infra.plugins.plugin_utils import _drift

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "drift"
CANARIES = ("new-godaddy-secret", "old-godaddy-secret", "new-db-password", "old-db-password", "new-url-password",
            "nolog-canary", "item-canary", "failure-canary-pass", "Ax8hyGP8D6ZuWkH4nA8Ize7YQ0Hk8Qz2i6q3lXh8v3aQ2qP6d5o1K")


def replay(path=FIXTURES / "results.jsonl"):
    recorder = _drift.DriftRecorder(check_mode=True, playbooks=["record.yml"])
    for line in path.read_text().splitlines():
        event = json.loads(line)
        task = _drift.TaskInfo(**event["task"])
        if event["event"] == "ok":
            recorder.ok(event["host"], task, event["result"])
        elif event["event"] == "skipped":
            recorder.skipped(event["host"], task, event["result"])
        elif event["event"] == "failed":
            recorder.failed(event["host"], task, event["result"], bool(event.get("ignore_errors")))
        elif event["event"] == "unreachable":
            recorder.unreachable(event["host"], task, event["result"])
    return recorder


@pytest.fixture(scope="module")
def report():
    return replay().report()


def drifted(report, host):
    return {entry["task"]: entry for entry in report["hosts"][host]["drifted"]}


def metrics(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_changed_tasks_are_listed_per_host_with_role_and_diff(report):
    tasks = drifted(report, "drifts")
    assert sorted(tasks) == sorted([
        "Changed file with a diff", "Changed file whose diff holds secrets", "Changed secret file with no_log",
        "Loop with one changed item", "Loop with no_log items", "Write the static configuration", "Fixture handler"])
    assert tasks["Changed file with a diff"]["role"] is None
    assert tasks["Changed file with a diff"]["diff"] == [{
        "after": "listen: 443\nlog_level: DEBUG\n", "after_header": "/FIXTURE_DIR/changed.txt",
        "before": "listen: 443\nlog_level: INFO\n", "before_header": "/FIXTURE_DIR/changed.txt"}]
    assert tasks["Write the static configuration"]["role"] == "edge_fixture"
    assert "':8080'" in tasks["Write the static configuration"]["diff"][0]["before"]


def test_unchanged_skipped_and_ignored_failures_are_not_drift(report):
    host = report["hosts"]["drifts"]
    names = {entry["task"] for entry in host["drifted"]}
    assert not names & {"Unchanged file", "Skipped task", "Failure that is ignored", "Role task"}
    assert host["failed"] == [] and host["skipped"] == 3
    assert host["ok"] >= 3  # unchanged copy, include_role, the ignored failure


def test_loops_list_only_the_items_that_change(report):
    loop = drifted(report, "drifts")["Loop with one changed item"]
    assert loop["items"] == ["loop-new.txt"]
    assert [d["after_header"] for d in loop["diff"]] == ["/FIXTURE_DIR/loop-new.txt"]


def test_no_log_tasks_and_items_show_only_that_they_change(report):
    tasks = drifted(report, "drifts")
    for name in ("Changed secret file with no_log", "Loop with no_log items"):
        assert tasks[name]["diff"] is None and tasks[name]["no_log"] is True
    assert tasks["Loop with no_log items"]["items"] == [_drift.HIDDEN, _drift.HIDDEN]


def test_no_secret_reaches_the_report(report):
    text = json.dumps(report)
    assert [canary for canary in CANARIES if canary in text] == []
    secrets = drifted(report, "drifts")["Changed file whose diff holds secrets"]["diff"][0]
    assert "GODADDY_API_SECRET=<redacted>" in secrets["after"] and "password: <redacted>" in secrets["before"]
    assert "postgres://hermes:<redacted>@db:5432/hermes" in secrets["after"] and "admin:<redacted>" in secrets["after"]


def test_handlers_are_marked(report):
    assert drifted(report, "drifts")["Fixture handler"]["handler"] is True
    assert "Fixture handler" not in drifted(report, "fails")  # a failed host runs no handlers


def test_failed_and_unreachable_hosts(report):
    assert report["hosts"]["fails"]["failed"] == [{
        "task": "Failure with a secret in its message", "role": None,
        "msg": "cannot log in with password: <redacted>"}]
    gone = report["hosts"]["gone"]
    assert gone["unreachable"] is True and "port 1" in gone["unreachable_msg"] and gone["drifted"] == []
    assert report["failed_hosts"] == ["fails"] and report["unreachable_hosts"] == ["gone"]
    assert report["drifted_hosts"] == ["drifts", "fails"]
    assert report["drifted_tasks"] == 7 + 6


def test_exit_codes():
    clean = {"complete": True, "hosts": {"a": {}}, "drifted_tasks": 0, "failed_hosts": [], "unreachable_hosts": []}
    assert _drift.exit_code(clean) == 0
    assert _drift.exit_code(dict(clean, drifted_tasks=3)) == 2
    assert _drift.exit_code(dict(clean, drifted_tasks=3, failed_hosts=["a"])) == 1
    assert _drift.exit_code(dict(clean, unreachable_hosts=["a"])) == 1
    assert _drift.exit_code(dict(clean, complete=False)) == 1
    assert _drift.exit_code(clean, playbook_rc=4) == 1
    assert _drift.exit_code(None) == 1


def test_report_round_trip_and_file_mode(tmp_path, report):
    path = tmp_path / "drift.json"
    _drift.write_report(str(path), report)
    assert _drift.read_report(str(path)) == json.loads(json.dumps(report))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["drift.json"]  # no temporary file left


def test_malformed_or_foreign_reports_are_refused(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"hosts": ')
    with pytest.raises(_drift.DriftError, match="not a readable drift report"):
        _drift.read_report(str(broken))
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"findings": []}')
    with pytest.raises(_drift.DriftError, match="not a drift report"):
        _drift.read_report(str(foreign))
    assert _drift.read_report(str(tmp_path / "missing.json")) is None


def test_unwritable_places_are_named(tmp_path):
    with pytest.raises(_drift.DriftError, match="does not exist"):
        _drift.write_report(str(tmp_path / "nowhere" / "drift.json"), {})
    with pytest.raises(_drift.DriftError, match="only \\*.prom"):
        _drift.write_metrics(str(tmp_path / "drift.txt"), "")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.geteuid() != 0:
            with pytest.raises(_drift.DriftError, match="fix its permissions"):
                _drift.write_report(str(locked / "drift.json"), {})
    finally:
        locked.chmod(0o700)


def test_metrics_of_a_run_with_drift_failures_and_unreachable_hosts(report):
    values = metrics(_drift.drift_metrics(report, None, now=1000.0))
    assert values[("squaremcp_drift_tasks", (("host", "drifts"),))] == 7
    assert values[("squaremcp_drift_tasks", (("host", "fails"),))] == 6
    assert values[("squaremcp_drift_host_failed", (("host", "fails"),))] == 1
    assert values[("squaremcp_drift_host_failed", (("host", "gone"),))] == 1
    assert values[("squaremcp_drift_host_failed", (("host", "drifts"),))] == 0
    assert values[("squaremcp_drift_last_run_timestamp_seconds", ())] == 1000.0
    # a failed host: no success now and none before
    assert ("squaremcp_drift_last_success_timestamp_seconds", ()) not in values


def test_last_success_is_kept_until_a_run_reaches_every_host():
    clean = {"complete": True, "drifted_tasks": 0, "failed_hosts": [], "unreachable_hosts": [],
             "hosts": {"edge-1": {"drifted": [], "failed": [], "unreachable": False}}}
    first = _drift.drift_metrics(clean, None, now=100.0)
    assert metrics(first)[("squaremcp_drift_last_success_timestamp_seconds", ())] == 100.0
    broken = dict(clean, unreachable_hosts=["edge-1"],
                  hosts={"edge-1": {"drifted": [], "failed": [], "unreachable": True}})
    second = metrics(_drift.drift_metrics(broken, first, now=200.0))
    assert second[("squaremcp_drift_last_success_timestamp_seconds", ())] == 100.0
    assert second[("squaremcp_drift_last_run_timestamp_seconds", ())] == 200.0
    assert second[("squaremcp_drift_host_failed", (("host", "edge-1"),))] == 1


def test_failure_metrics_keep_hosts_and_counts():
    clean = {"complete": True, "drifted_tasks": 2, "failed_hosts": [], "unreachable_hosts": [],
             "hosts": {"edge-1": {"drifted": [{}, {}], "failed": [], "unreachable": False}}}
    before = _drift.drift_metrics(clean, None, now=100.0)
    after = metrics(_drift.drift_failure_metrics(before, now=300.0))
    assert after == {
        ("squaremcp_drift_tasks", (("host", "edge-1"),)): 2.0,
        ("squaremcp_drift_host_failed", (("host", "edge-1"),)): 1.0,
        ("squaremcp_drift_last_run_timestamp_seconds", ()): 300.0,
        ("squaremcp_drift_last_success_timestamp_seconds", ()): 100.0,
    }
    assert metrics(_drift.drift_failure_metrics("not { metrics", now=5.0)) == {
        ("squaremcp_drift_last_run_timestamp_seconds", ()): 5.0}


def test_ingress_metrics():
    first = _drift.ingress_metrics(3, None, now=10.0)
    assert metrics(first) == {("squaremcp_ingress_unserved", ()): 3.0,
                              ("squaremcp_ingress_audit_last_run_timestamp_seconds", ()): 10.0,
                              ("squaremcp_ingress_audit_last_success_timestamp_seconds", ()): 10.0}
    failed = metrics(_drift.ingress_metrics(None, first, now=20.0))
    assert failed == {("squaremcp_ingress_unserved", ()): 3.0,
                      ("squaremcp_ingress_audit_last_run_timestamp_seconds", ()): 20.0,
                      ("squaremcp_ingress_audit_last_success_timestamp_seconds", ()): 10.0}


def test_metric_names_are_the_readme_table():
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in (_drift.DRIFT_TASKS, _drift.DRIFT_HOST_FAILED, _drift.DRIFT_LAST_RUN, _drift.DRIFT_LAST_SUCCESS,
                 _drift.INGRESS_UNSERVED, _drift.INGRESS_LAST_RUN, _drift.INGRESS_LAST_SUCCESS):
        assert "| `%s` |" % name in readme


@pytest.mark.parametrize("text, expected", [
    ("password: hunter2", "password: <redacted>"),
    ('"apiKey": "abc",', '"apiKey": "<redacted>",'),
    ("GODADDY_API_KEY='k'", "GODADDY_API_KEY='<redacted>'"),
    ("Authorization: Bearer abc", "Authorization: <redacted>"),
    ("secretName: hermes-tls", "secretName: hermes-tls"),
    ("passHostHeader: true", "passHostHeader: true"),
    ("password_file: /run/secrets/db", "password_file: /run/secrets/db"),
    ("token: |", "token: |"),
    ("https://user:pw@example.com/x", "https://user:<redacted>@example.com/x"),
    ("root:$6$salt$hash:19000:0", "root:<redacted>:19000:0"),
    ("{'db_password': 'x', 'user': 'y'}", "{'db_password': '<redacted>', 'user': 'y'}"),
    ('{"api_token": 12345}', '{"api_token": <redacted>}'),
    ("resolving value for 'api_secret': Error rendering template: Decryption failed",
     "resolving value for 'api_secret': Error rendering template: Decryption failed"),
])
def test_redact_text(text, expected):
    assert _drift.redact_text(text) == expected


def test_redact_structures_and_keys():
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "stringData": {"PASSWORD": "x", "USER": "y"}}
    assert _drift.redact(secret) == {"kind": "Secret", "metadata": {"name": "db"},
                                     "stringData": {"PASSWORD": "<redacted>", "USER": "<redacted>"}}
    pem = "a\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\nb"
    assert _drift.redact({"before": pem}) == {
        "before": "a\n-----BEGIN EC PRIVATE KEY-----\n<redacted>\n-----END EC PRIVATE KEY-----\nb"}
    assert _drift.redact({"db_password": "x", "password_file": "/f"}) == {"db_password": "<redacted>",
                                                                          "password_file": "/f"}


def test_long_diffs_are_cut():
    recorder = _drift.DriftRecorder()
    recorder.ok("h", _drift.TaskInfo(name="big"), {"changed": True, "diff": {"before": "", "after": "x" * 50000}})
    after = recorder.report()["hosts"]["h"]["drifted"][0]["diff"][0]["after"]
    assert len(after) < 21000 and after.endswith("(30000 more characters)")


def test_summary_lines(report):
    lines = _drift.summary_lines(report)
    assert lines[0].startswith("fails: FAILED") and lines[1].startswith("gone: UNREACHABLE")
    assert "drifts: would change edge_fixture : Write the static configuration" in lines
    assert "drifts: would change Loop with one changed item (loop-new.txt)" in lines
    assert len(_drift.summary_lines(report, limit=3)) == 4

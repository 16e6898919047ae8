# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.monitoring_files under abuse, through ansible-playbook: symbolic links below root (a file, a
directory to fix, a directory to prune) are refused and nothing outside root is written, chmod-ed or removed; a bad
group, owner, mode, tool name or missing directory is refused BEFORE any directory is created or fixed; a tool's
message about a secret file and the diff of a pruned file carry no secret value; two runs on one root take turns.
Every refused case leaves every file byte for byte as it was (mode, owner, inode, mtime).

The check tool here is a shell script that prints the whole file it is given and refuses it (the worst a real tool
could echo); the real promtool/amtool/blackbox checks run in test_monitoring_role.py and the Molecule scenario."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from tests.badinput import assert_secret_absent, run_cases, run_refused, state

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.monitoring_files"
CANARY = "canary-hook-7f3a"
PROMETHEUS = {"path": "prometheus/prometheus.yml", "content": "global: {}\n"}


def site(tmp_path, case):
    """<case>/root/prometheus/{prometheus.yml,rules/old.rules.yml} installed, <case>/outside/{target,dir/kept.yml}
    (1234:4321, 0600 / 0700)."""
    base = tmp_path / case
    (base / "root" / "prometheus" / "rules").mkdir(parents=True)
    (base / "root" / "prometheus" / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    (base / "root" / "prometheus" / "rules" / "old.rules.yml").write_text("groups: []\n")
    (base / "outside" / "dir").mkdir(parents=True)
    target = base / "outside" / "target"
    target.write_text("outside the monitoring directory\n")
    (base / "outside" / "dir" / "kept.yml").write_text("groups: []\n")
    for path, mode in ((target, 0o600), (base / "outside" / "dir", 0o700)):
        os.chown(path, 1234, 4321)
        os.chmod(path, mode)
    return base


def relink(path, target):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(str(path))
    elif path.exists():
        path.unlink()
    os.symlink(str(target), str(path))


def tool(tmp_path, name="refuse"):
    """A check tool that prints every file it is given, then refuses."""
    path = tmp_path / name
    path.write_text('#!/bin/sh\nfor a in "$@"; do f="${a#*=}"; [ -f "$f" ] && cat "$f"; done\necho refused; exit 1\n')
    path.chmod(0o755)
    return str(path)


def test_refused_input_changes_nothing_and_says_why(tmp_path):
    names = ("file-link", "directory-link", "prune-link", "bad-group-after-a-new-directory", "unknown-owner",
             "directory-mode", "unknown-tool", "tool-not-a-list", "missing-directory", "refused-secret-file")
    bases = {name: site(tmp_path, name) for name in names}
    root = {name: base / "root" for name, base in bases.items()}
    relink(root["file-link"] / "prometheus" / "prometheus.yml", bases["file-link"] / "outside" / "target")
    relink(root["directory-link"] / "prometheus", bases["directory-link"] / "outside" / "dir")
    relink(root["prune-link"] / "prometheus" / "rules", bases["prune-link"] / "outside" / "dir")
    secret = ("route: {receiver: hook}\nreceivers:\n  - name: hook\n    webhook_configs:\n"
              "      - url: https://hooks.example.test/%s\n        http_config: {authorization: {credentials: %s}}\n"
              % (CANARY, CANARY + "-cred"))
    cases = {
        "file-link": {"files": [dict(PROMETHEUS, mode="0644")]},
        "directory-link": {"directories": [{"path": "prometheus", "mode": "0755"}], "files": [PROMETHEUS]},
        "prune-link": {"files": [PROMETHEUS], "prune": ["prometheus/rules"]},
        "bad-group-after-a-new-directory": {"directories": [{"path": "alertmanager"},
                                                            {"path": "prometheus", "group": "no-such-group-x"}],
                                            "files": [PROMETHEUS]},
        "unknown-owner": {"directories": [{"path": "alertmanager"}], "files": [
            {"path": "alertmanager/alertmanager.yml", "content": "route: {}\n", "owner": "no-such-user-x"}]},
        "directory-mode": {"directories": [{"path": "alertmanager"}, {"path": "prometheus", "mode": "u=rwx"}],
                           "files": [PROMETHEUS]},
        "unknown-tool": {"files": [dict(PROMETHEUS, check="prometheus")], "tools": {"promtol": ["/bin/true"]}},
        "tool-not-a-list": {"files": [dict(PROMETHEUS, check="prometheus")], "tools": {"promtool": "/bin/true"}},
        "missing-directory": {"directories": [{"path": "alertmanager"}],
                              "files": [{"path": "grafana/grafana.ini", "content": "[server]\n"}]},
        "refused-secret-file": {"directories": [{"path": "alertmanager"}], "files": [
            PROMETHEUS, {"path": "alertmanager/alertmanager.yml", "secret_content": secret, "check": "alertmanager"}],
            "tools": {"amtool": [tool(tmp_path)]}},
    }
    for name, case in cases.items():
        case["root"] = str(root[name])
    expected = {"file-link": "is a symbolic link", "directory-link": "is a symbolic link",
                "prune-link": "is a symbolic link", "bad-group-after-a-new-directory": "no-such-group-x",
                "unknown-owner": "no-such-user-x", "directory-mode": "not an octal mode",
                "unknown-tool": "monitoring_check_commands", "tool-not-a-list": "must be a list of strings",
                "missing-directory": "is not in directories", "refused-secret-file": "refused by amtool"}
    run = run_refused(tmp_path, MODULE, cases, bases, expected, diff=True)
    # the tool printed the whole secret file: neither the URL nor the credential reaches the operator
    assert_secret_absent(run, CANARY)


def test_pruned_links_and_secrets(tmp_path):
    """A link in a pruned directory is removed as a link (its target stays); a pruned file's secrets stay out of
    the diff, at any verbosity."""
    base = site(tmp_path, "prune")
    rules = base / "root" / "prometheus" / "rules"
    os.symlink(str(base / "outside" / "target"), str(rules / "linked.rules.yml"))
    (rules / "receivers.rules.yml").write_text("password: %s\nurl: https://u:%s@hooks.example.test/\n" % (CANARY, CANARY))
    outside = state(base / "outside")
    run = run_cases(tmp_path, MODULE, {"prune": {"root": str(base / "root"), "files": [
        PROMETHEUS, {"path": "prometheus/rules/old.rules.yml", "content": "groups: []\n"}],
        "prune": ["prometheus/rules"]}}, diff=True, verbosity=3)
    result = run["prune"]
    assert not result.get("failed") and sorted(result["removed"]) == ["prometheus/rules/linked.rules.yml",
                                                                      "prometheus/rules/receivers.rules.yml"], result
    assert sorted(os.listdir(str(rules))) == ["old.rules.yml"]
    assert state(base / "outside") == outside
    assert "outside the monitoring directory" not in run.output
    assert CANARY not in run.output


def test_two_runs_on_one_root_take_turns(tmp_path):
    """A timer and a person: each run's check-then-write runs alone (the checks never overlap), and each leaves a
    set that was checked as a whole."""
    base = site(tmp_path, "concurrent")
    log = tmp_path / "checks.log"
    checker = tmp_path / "slow-check"
    checker.write_text('#!/bin/sh\necho "start $PPID" >> %s\nsleep 2\necho "end $PPID" >> %s\nexit 0\n' % (log, log))
    checker.chmod(0o755)
    runs = {}

    def converge(name, content):
        (tmp_path / name).mkdir()
        runs[name] = run_cases(tmp_path / name, MODULE, {name: {"root": str(base / "root"), "files": [
            {"path": "prometheus/prometheus.yml", "content": content, "check": "prometheus"},
            {"path": "prometheus/rules/old.rules.yml", "content": "# %s\ngroups: []\n" % name, "check": "rules"}],
            "tools": {"promtool": [str(checker)]}}})

    threads = [threading.Thread(target=converge, args=(name, "global: {scrape_interval: %ds}\n" % seconds))
               for name, seconds in (("person", 15), ("timer", 45))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not run[name].get("failed") and run[name]["changed"] for name, run in runs.items()), runs
    events = [line.split() for line in log.read_text().splitlines()]
    # one run (one module process, the tools' parent) checks both kinds, then the other: never interleaved
    runners = [pid for _event, pid in events]
    assert len(events) == 8 and len(set(runners)) == 2, events
    assert runners[:4] == [runners[0]] * 4 and runners[4:] == [runners[4]] * 4, events
    prometheus = (base / "root" / "prometheus" / "prometheus.yml").read_text()
    rules = (base / "root" / "prometheus" / "rules" / "old.rules.yml").read_text()
    winner = "person" if "15s" in prometheus else "timer"
    assert rules.startswith("# %s" % winner), (prometheus, rules)  # never half of one run and half of the other

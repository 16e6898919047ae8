# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_monitoring_files.py against a real AnsibleModule on a temporary directory: the whole
set is checked before anything is written, a refused set changes nothing, unchanged files keep their
inode, pruning, check mode, and no secret in a diff or a message. The tools here are small scripts
that record their arguments and accept or refuse; the real promtool/amtool/blackbox run in
tests/integration/test_monitoring_role.py and the Molecule scenario."""

from __future__ import annotations

import os
import stat

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.squaremcp.infra.plugins.module_utils._monitoring_files import (
    CheckError, WantedFile, apply, redact)
from tests import certs_factory

SECRET_URL = "https://hooks.example.test/T0KEN-s3cr3t"


def make_module(check_mode=False):
    with patch_module_args({"_ansible_check_mode": check_mode, "_ansible_diff": True}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def tool(tmp_path, name, refuse_when=None):
    """A checker that logs its argv and fails when a file it is given holds ``refuse_when``."""
    path = tmp_path / ("fake-" + name)
    log = tmp_path / (name + ".log")
    refuse = ('grep -q "%s" "$f" && { echo "refused: $f has %s; see %s" >&2; exit 1; }; ' % (refuse_when, refuse_when, SECRET_URL)
              if refuse_when else "")
    path.write_text("#!/bin/sh\necho \"$@\" >> %s\nfor a in \"$@\"; do f=\"${a#*=}\"; [ -f \"$f\" ] || continue; "
                    "%s done\nexit 0\n" % (log, refuse))
    path.chmod(0o755)
    return [str(path)], log


def files(**overrides):
    wanted = {
        "prometheus": WantedFile("prometheus/prometheus.yml", b"rule_files: [rules/*.rules.yml]\n", check="prometheus"),
        "a": WantedFile("prometheus/rules/a.rules.yml", b"groups: []\n", check="rules"),
        "b": WantedFile("prometheus/rules/b.rules.yml", b"groups: []\n", check="rules"),
        "alertmanager": WantedFile("alertmanager/alertmanager.yml", ("receivers:\n- url: %s\n" % SECRET_URL).encode(),
                                   check="alertmanager", secret=True, mode="0640"),
    }
    wanted.update(overrides)
    return [w for w in wanted.values() if w is not None]


DIRECTORIES = [{"path": "."}, {"path": "prometheus"}, {"path": "prometheus/rules"}, {"path": "alertmanager", "mode": "0750"}]


def snapshot(root):
    return certs_factory.snapshot(root, identity=True)


def test_first_run_checks_each_kind_once_then_writes_everything(tmp_path):
    promtool, log = tool(tmp_path, "promtool")
    amtool, amlog = tool(tmp_path, "amtool")
    root = tmp_path / "config"
    outcome = apply(make_module(), str(root), files(), DIRECTORIES, ["prometheus/rules"], {"promtool": promtool, "amtool": amtool})
    assert outcome.changed and sorted(outcome.written) == sorted(w.path for w in files())
    calls = log.read_text().splitlines()
    assert len(calls) == 2  # one `check config`, one `check rules` with both rule files
    assert any(c.startswith("check rules ") and c.count(".rules.yml") == 2 for c in calls)
    assert amlog.read_text().startswith("check-config ")
    assert stat.S_IMODE(os.stat(root / "alertmanager").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(root / "alertmanager/alertmanager.yml").st_mode) == 0o640
    diff = {d["before_header"]: d for d in outcome.diff}
    assert SECRET_URL not in repr(outcome.diff) and "not shown" in diff["alertmanager/alertmanager.yml"]["after"]
    assert diff["prometheus/prometheus.yml"]["after"] == "rule_files: [rules/*.rules.yml]\n"


def test_the_prometheus_check_sees_the_new_rules_beside_the_new_config(tmp_path):
    """promtool check config reads rules/*.rules.yml relative to the config: the staged copy must have them."""
    checker = tmp_path / "fake-promtool"
    seen = tmp_path / "seen"
    checker.write_text("#!/bin/sh\n[ \"$1 $2\" = 'check config' ] && ls \"$(dirname \"$3\")/rules\" > %s\nexit 0\n" % seen)
    checker.chmod(0o755)
    apply(make_module(), str(tmp_path / "config"), files(), DIRECTORIES, [], {"promtool": [str(checker)]})
    assert seen.read_text().split() == ["a.rules.yml", "b.rules.yml"]


def test_a_refused_set_changes_nothing_and_the_message_hides_secrets(tmp_path):
    promtool, _log = tool(tmp_path, "promtool")
    amtool, _amlog = tool(tmp_path, "amtool", refuse_when="receivers")
    root = tmp_path / "config"
    apply(make_module(), str(root), files(alertmanager=None), DIRECTORIES, [], {"promtool": promtool})
    before = snapshot(root)
    changed = files(a=WantedFile("prometheus/rules/a.rules.yml", b"groups: [x]\n", check="rules"))
    with pytest.raises(CheckError) as refused:
        apply(make_module(), str(root), changed, DIRECTORIES, ["prometheus/rules"], {"promtool": promtool, "amtool": amtool})
    message = str(refused.value)
    assert message.startswith("alertmanager/alertmanager.yml refused by amtool (rc 1)")
    assert "T0KEN" not in message and "hooks.example.test" not in message and "see <redacted" in message
    assert snapshot(root) == before


def test_unchanged_files_keep_their_inode_and_run_no_check(tmp_path):
    promtool, log = tool(tmp_path, "promtool")
    amtool, _amlog = tool(tmp_path, "amtool")
    tools = {"promtool": promtool, "amtool": amtool}
    root = tmp_path / "config"
    apply(make_module(), str(root), files(), DIRECTORIES, ["prometheus/rules"], tools)
    before, calls = snapshot(root), log.read_text()
    outcome = apply(make_module(), str(root), files(), DIRECTORIES, ["prometheus/rules"], tools)
    assert not outcome.changed and outcome.checked == [] and outcome.diff == []
    assert snapshot(root) == before and log.read_text() == calls


def test_prune_removes_what_is_no_longer_listed_and_shows_it(tmp_path):
    promtool, _log = tool(tmp_path, "promtool")
    root = tmp_path / "config"
    apply(make_module(), str(root), files(alertmanager=None), DIRECTORIES, ["prometheus/rules"], {"promtool": promtool})
    (root / "prometheus/rules/stray.rules.yml").write_text("groups: []\n")
    outcome = apply(make_module(), str(root), files(alertmanager=None, b=None), DIRECTORIES,
                    ["prometheus/rules"], {"promtool": promtool})
    assert sorted(outcome.removed) == ["prometheus/rules/b.rules.yml", "prometheus/rules/stray.rules.yml"]
    assert sorted(os.listdir(root / "prometheus/rules")) == ["a.rules.yml"]
    assert {d["after_header"] for d in outcome.diff} == {"prometheus/rules/b.rules.yml (removed)", "prometheus/rules/stray.rules.yml (removed)"}


def test_check_mode_checks_and_reports_but_writes_nothing(tmp_path):
    promtool, log = tool(tmp_path, "promtool")
    root = tmp_path / "config"
    outcome = apply(make_module(check_mode=True), str(root), files(alertmanager=None), DIRECTORIES, [], {"promtool": promtool})
    assert outcome.changed and len(outcome.written) == 3 and outcome.directories
    assert not root.exists()
    assert len(log.read_text().splitlines()) == 2  # check config, check rules
    refusing, _log = tool(tmp_path, "refusing", refuse_when="groups")
    with pytest.raises(CheckError):  # a refusal shows in check mode too
        apply(make_module(check_mode=True), str(root), files(alertmanager=None), DIRECTORIES, [], {"promtool": refusing})


def test_check_mode_skips_docker_and_missing_tools_and_says_so(tmp_path):
    root = tmp_path / "config"
    tools = {"promtool": ["docker", "run", "--rm", "prom/prometheus:v2.42.0"], "amtool": [str(tmp_path / "not-installed")]}
    outcome = apply(make_module(check_mode=True), str(root), files(), DIRECTORIES, [], tools)
    assert len(outcome.skipped_checks) == 3 and outcome.checked == []
    assert any("would start a container" in s for s in outcome.skipped_checks)
    assert any("not-installed is not installed yet" in s for s in outcome.skipped_checks)


def test_an_empty_tool_skips_its_check_and_says_so(tmp_path):
    outcome = apply(make_module(), str(tmp_path / "config"), [WantedFile("loki/loki.yml", b"a: 1\n", check="loki")],
                    [{"path": "."}, {"path": "loki"}], [], {"loki": []})
    assert outcome.skipped_checks == ["loki/loki.yml: no loki configured (monitoring_check_commands.loki is empty), not checked"]
    assert outcome.written == ["loki/loki.yml"]


def test_a_tool_that_cannot_run_refuses_the_set(tmp_path):
    root = tmp_path / "config"
    with pytest.raises(CheckError, match="cannot run .*nowhere/promtool"):
        apply(make_module(), str(root), files(alertmanager=None), DIRECTORIES, [], {"promtool": [str(tmp_path / "nowhere/promtool")]})
    assert not root.exists()


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.yml", "prometheus/../../outside.yml", "."])
def test_paths_outside_the_root_are_refused(tmp_path, path):
    from ansible_collections.squaremcp.infra.plugins.module_utils._files import FileError
    with pytest.raises(FileError, match="is not a path inside the root directory"):
        apply(make_module(), str(tmp_path / "config"), [WantedFile(path, b"x\n")], [], [], {})
    assert not (tmp_path / "outside.yml").exists()


def test_redact_removes_urls_and_secret_values():
    config = b"global:\n  smtp_auth_password: hunter2-smtp\nreceivers:\n- webhook_configs:\n  - url: https://h.example/x\n"
    text = redact("bad smtp_auth_password hunter2-smtp near https://h.example/x and http://other.example/y", [config])
    assert "hunter2" not in text and "h.example" not in text and "other.example" not in text

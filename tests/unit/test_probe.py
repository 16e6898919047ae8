# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_probe: the commands of one probe run, with real processes (sh, cat, sleep)."""

from __future__ import annotations

import time

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _probe


def test_each_command_gets_its_own_result_in_the_shape_of_a_command_task():
    commands = _probe.parse({
        "two_lines": ["sh", "-c", "printf 'a\\nb\\n'; echo warn >&2"],
        "exit_three": ["sh", "-c", "exit 3"],
        "from_stdin": {"argv": ["cat"], "stdin": "line 1\nline 2\n"},
        "locale": ["sh", "-c", "echo $LC_ALL"],
    })
    results, failures = _probe.run_all(commands)
    assert failures == []
    assert results["two_lines"].as_dict() == {"rc": 0, "stdout": "a\nb", "stderr": "warn",
                                              "stdout_lines": ["a", "b"], "stderr_lines": ["warn"]}
    assert results["exit_three"].rc == 3
    assert results["from_stdin"].stdout == "line 1\nline 2"
    assert results["locale"].stdout == "C"


def test_commands_run_at_the_same_time():
    commands = _probe.parse({"s%d" % i: ["sleep", "0.5"] for i in range(4)})
    start = time.monotonic()
    results, failures = _probe.run_all(commands)
    assert failures == [] and all(result.rc == 0 for result in results.values())
    assert time.monotonic() - start < 1.5  # 4 x 0.5 s one after the other would take 2 s


def test_an_exit_code_outside_ok_rcs_is_a_failure_naming_the_command():
    commands = _probe.parse({
        "fine": {"argv": ["sh", "-c", "exit 1"], "ok_rcs": [0, 1]},
        "broken": {"argv": ["sh", "-c", "echo first >&2; echo 'no such file' >&2; exit 2"], "ok_rcs": [0]},
    })
    results, failures = _probe.run_all(commands)
    assert results["fine"].rc == 1
    assert failures == ["broken (sh) exited with 2: no such file"]


def test_a_missing_program_and_a_timeout_are_results():
    commands = _probe.parse({"missing": ["/nonexistent/prog"], "slow": ["sleep", "5"]})
    start = time.monotonic()
    results, failures = _probe.run_all(commands, timeout=0.5)
    assert time.monotonic() - start < 3
    assert failures == []
    assert (results["missing"].rc, results["missing"].stderr) == (127, "/nonexistent/prog: command not found")
    assert results["slow"].rc == 124 and "no answer within 0.5 s" in results["slow"].stderr


@pytest.mark.parametrize("commands, message", [
    ({}, "commands is empty"),
    ({"shell": "ls -l"}, "commands.shell: argv must be a non-empty list"),
    ({"empty": []}, "commands.empty: argv must be a non-empty list"),
    ({"typo": {"argv": ["true"], "ok_rc": [0]}}, "commands.typo: unknown key(s) ok_rc"),
    ({"rcs": {"argv": ["true"], "ok_rcs": ["zero"]}}, "commands.rcs: ok_rcs must be a list of exit codes"),
    ({"input": {"argv": ["cat"], "stdin": ["a"]}}, "commands.input: stdin must be a text"),
])
def test_bad_commands_are_refused_with_the_key_to_fix(commands, message):
    with pytest.raises(_probe.ProbeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _probe.parse(commands)

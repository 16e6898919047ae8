# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.probe through ansible-playbook on this host: the results feed the filters the roles use (dpkg,
stat), standard input, a failing command named in the message, bad input refused, check mode."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import uuid

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def run(work, tasks, check=False):
    path = work / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump([{"name": "probe", "hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_HOME=str(work / "ansible-home"))
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)] + (["--check"] if check else [])
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    return {task["task"]["name"]: task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]}


def test_reads_feed_the_role_filters_and_failures_name_the_command(tmp_path):
    (tmp_path / "dir").mkdir(mode=0o750)
    tasks = [
        {"name": "probe", "register": "live", "squaremcp.infra.probe": {"commands": {
            "dpkg": "{{ ['dpkg', 'no-such-package-sq'] | squaremcp.infra.dpkg_query_argv }}",
            "dirs": "{{ ['%s', '%s'] | squaremcp.infra.stat_argv }}" % (tmp_path / "dir", tmp_path / "missing"),
            "stdin": {"argv": ["sort"], "stdin": "b\na\n"},
        }}},
        {"name": "derived", "ansible.builtin.set_fact": {
            "missing": "{{ live.commands.dpkg.stdout | squaremcp.infra.packages_missing(['dpkg', 'no-such-package-sq']) }}",
            "to_create": "{{ ['%s', '%s'] | squaremcp.infra.directories_to_create(live.commands.dirs.stdout_lines, mode='0750') }}"
                         % (tmp_path / "dir", tmp_path / "missing")}},
        {"name": "failing", "ignore_errors": True, "squaremcp.infra.probe": {"commands": {
            "fine": ["true"], "stat": {"argv": ["stat", str(tmp_path / "nothing-here")], "ok_rcs": [0]}}}},
        {"name": "bad input", "ignore_errors": True, "squaremcp.infra.probe": {"commands": {"shell": "ls -l | wc"}}},
    ]
    results = run(tmp_path, tasks)
    probe = results["probe"]
    assert probe["changed"] is False
    assert probe["commands"]["stdin"]["stdout_lines"] == ["a", "b"]
    assert results["derived"]["ansible_facts"]["missing"] == ["no-such-package-sq"]
    assert results["derived"]["ansible_facts"]["to_create"] == [str(tmp_path / "missing")]
    failing = results["failing"]
    assert failing["failed"] and failing["msg"].startswith("stat (stat) exited with 1: ")
    assert "nothing-here" in failing["msg"] and failing["commands"]["fine"]["rc"] == 0
    assert results["bad input"]["failed"]
    assert results["bad input"]["msg"].startswith("commands.shell: argv must be a non-empty list of arguments (no shell)")


def test_check_mode_reads_the_real_state(tmp_path):
    results = run(tmp_path, [{"name": "probe", "squaremcp.infra.probe": {"commands": {"date": ["date", "+%Y"]}}}],
                  check=True)
    assert results["probe"]["changed"] is False and results["probe"]["commands"]["date"]["stdout"].isdigit()

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input against the REAL modules through ansible-playbook, the way an operator runs them.

One playbook per family of cases: one task per case with its arguments written literally into the
task (as in a role), every result registered and saved for the test, the whole output kept (what
the operator sees, at the verbosity asked for). Each case works in its own directory, and
:func:`state` records every path there (type, bytes or link target, mode, owner, group, inode,
mtime) without following links, so a test can prove a refused run changed nothing at all.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def state(root):
    """{relative path: (kind, content or link target, mode, uid, gid, inode, mtime_ns)} of everything under root."""
    root = Path(root)
    found = {}
    for base, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                kind, content = "link", os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                kind, content = "dir", None
            else:
                kind, content = "file", Path(path).read_bytes()
            found[os.path.relpath(path, str(root))] = (kind, content, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                                       st.st_ino, st.st_mtime_ns)
    return found


@dataclass
class Run:
    rc: int
    output: str
    results: dict  # case id -> registered result

    def __getitem__(self, case):
        return self.results[case]


def localhost_play(tasks, module_defaults=None):
    """A play running ``tasks`` on localhost with the controller's Python."""
    return {"name": "bad input", "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "module_defaults": module_defaults or {}, "tasks": tasks}


def run_cases(tmp_path, module, cases, check=False, diff=False, verbosity=0, env=None, module_defaults=None):
    """Run ``cases`` ({id: module arguments}) as one task each; return a :class:`Run`.

    Tasks carry their arguments literally (no loop, no item echo), ``ignore_errors`` so every case runs.
    """
    tmp_path = Path(tmp_path)
    results_file = tmp_path / "results.json"
    tasks = []
    for index, (case, args) in enumerate(cases.items()):
        tasks.append({"name": case, module: args, "register": "case_%d" % index, "ignore_errors": True})
    saved = {case: "{{ case_%d }}" % index for index, case in enumerate(cases)}
    tasks.append({"name": "Save the results for pytest", "ansible.builtin.copy": {
        "dest": str(results_file), "content": "{{ %s | to_json }}" % json.dumps(saved).replace('"{{ ', "").replace(
            ' }}"', ""), "mode": "0600"}, "no_log": True, "check_mode": False, "diff": False})
    playbook = tmp_path / "bad-input.yml"
    playbook.write_text(json.dumps([localhost_play(tasks, module_defaults)], indent=1))
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"), ANSIBLE_HOME=str(tmp_path / ".ansible-home"),
                       ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_DEPRECATION_WARNINGS="0", ANSIBLE_PIPELINING="true")
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACKS_ENABLED"):
        environment.pop(name, None)
    environment.update(env or {})
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    command += (["--check"] if check else []) + (["--diff"] if diff else []) + (["-" + "v" * verbosity] if verbosity else [])
    proc = subprocess.run(command, cwd=str(tmp_path), env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=600)
    assert results_file.exists(), proc.stdout
    return Run(proc.returncode, proc.stdout, json.loads(results_file.read_text()))


def texts(result):
    """Every string a result carries (message, warnings, diffs, return values), for secret checks."""
    found = []

    def walk(value):
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                found.append(str(key))
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
    walk(result)
    return found


def assert_refused(run, bases, before, expected):
    """Every case of ``expected`` ({case: text its message holds}) failed with that message, without a traceback or
    a "report this", changed nothing it reports, and left its directory ``bases[case]`` exactly as ``before[case]``."""
    for case, message in expected.items():
        result = run[case]
        assert result.get("failed") and message in result.get("msg", ""), (case, result.get("msg"))
        assert "Traceback" not in str(result) and "MODULE FAILURE" not in str(result), (case, result)
        assert "report this" not in result["msg"] and not result.get("changed"), (case, result)
        assert state(bases[case]) == before[case], case


def assert_secret_absent(run, secret):
    """``secret`` is in neither the playbook's output nor any module result (``invocation`` left out: from -vvv on,
    that is Ansible's echo of the task's own arguments, not something the module said)."""
    assert secret not in run.output
    results = [{key: value for key, value in result.items() if key != "invocation"} for result in run.results.values()]
    assert not [text for result in results for text in texts(result) if secret in text]


def run_refused(tmp_path, module, cases, bases, expected, **options):
    """Run ``cases`` (see :func:`run_cases`) and :func:`assert_refused` them against the state of ``bases`` before."""
    before = {case: state(base) for case, base in bases.items()}
    run = run_cases(tmp_path, module, cases, **options)
    assert_refused(run, bases, before, expected)
    return run

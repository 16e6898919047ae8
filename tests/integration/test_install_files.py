# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.install_files through ansible-playbook on this host (real files in a temporary directory).

Several files in one run with a template lookup, a second run that changes nothing (same inode and mtime), an
owner/mode-only repair, a validator that refuses (every file left as it was, no staged copy left behind), check mode
and diff, a secret that never shows in the result or the diff, and a symbolic link that is refused.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys
import uuid

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
SECRET = "s3cret-%s" % uuid.uuid4().hex


def play(work, tasks, check=False, diff=False, verbosity=0):
    path = work / ("play-%s.yml" % uuid.uuid4().hex[:6])
    (work / "templates").mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump([{"name": "install_files", "hosts": "localhost", "gather_facts": False,
                                     "connection": "local",
                                     "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_HOME=str(work / "ansible-home"))
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(path)]
    argv += (["--check"] if check else []) + (["--diff"] if diff else []) + (["-" + "v" * verbosity] if verbosity else [])
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"], done.stdout + done.stderr


def task(work, files, **extra):
    return {"name": "install", "squaremcp.infra.install_files": dict({"files": files}, **extra)}


def unit_files(work):
    (work / "templates").mkdir(exist_ok=True)
    (work / "templates" / "unit.j2").write_text("[Unit]\nDescription={{ what }} of {{ inventory_hostname }}\n")
    return [
        {"dest": str(work / "out" / "a.service"),
         "content": "{{ lookup('ansible.builtin.template', 'unit.j2', template_vars={'what': 'A'}) }}"},
        {"dest": str(work / "out" / "b.timer"),
         "content": "{{ lookup('ansible.builtin.template', 'unit.j2', template_vars={'what': 'B'}) }}", "mode": "0600"},
        {"dest": str(work / "out" / "c.cred"), "secret_content": SECRET},
    ]


def test_writes_then_changes_nothing_then_repairs(tmp_path):
    (tmp_path / "out").mkdir()
    files = unit_files(tmp_path)
    first, log = play(tmp_path, [task(tmp_path, files, mode="0644")], diff=True, verbosity=3)
    assert first.get("changed") is True, log
    assert (tmp_path / "out" / "a.service").read_text() == "[Unit]\nDescription=A of localhost\n"
    assert (tmp_path / "out" / "c.cred").read_text() == SECRET
    assert stat.S_IMODE((tmp_path / "out" / "b.timer").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out" / "a.service").stat().st_mode) == 0o644
    assert len(first["written"]) == 3
    assert [d["after_header"] for d in first["diff"]] == [files[0]["dest"], files[1]["dest"]]
    assert SECRET not in log
    before = {name: os.stat(tmp_path / "out" / name) for name in ("a.service", "b.timer", "c.cred")}

    again, log = play(tmp_path, [task(tmp_path, files, mode="0644")])
    assert again.get("changed") is False, log
    assert again["changed_files"] == [] and again["written"] == []
    for name, old in before.items():
        new = os.stat(tmp_path / "out" / name)
        assert (new.st_ino, new.st_mtime_ns) == (old.st_ino, old.st_mtime_ns)

    os.chmod(tmp_path / "out" / "a.service", 0o666)
    checked, log = play(tmp_path, [task(tmp_path, files, mode="0644")], check=True)
    assert checked.get("changed") is True and checked["changed_files"] == [files[0]["dest"]], log
    assert stat.S_IMODE((tmp_path / "out" / "a.service").stat().st_mode) == 0o666
    repaired, log = play(tmp_path, [task(tmp_path, files, mode="0644")])
    assert repaired.get("changed") is True and repaired["written"] == [], log
    assert stat.S_IMODE((tmp_path / "out" / "a.service").stat().st_mode) == 0o644


def test_refused_validator_leaves_every_file(tmp_path):
    (tmp_path / "out").mkdir()
    good = tmp_path / "out" / "good.json"
    config = tmp_path / "out" / "config.json"
    good.write_text("old\n")
    config.write_text('{"ok": true}\n')
    check = "%s -m json.tool %%s" % sys.executable
    files = [{"dest": str(good), "content": "new\n"},
             {"dest": str(config), "content": "{not json\n", "validate": check}]
    result, log = play(tmp_path, [task(tmp_path, files)])
    assert result.get("failed") is True, log
    assert str(config) in result["msg"] and "refused" in result["msg"]
    assert good.read_text() == "old\n" and config.read_text() == '{"ok": true}\n'
    assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "good.json"]  # no staged copy left

    files[1]["content"] = '{"ok": false}\n'
    result, log = play(tmp_path, [task(tmp_path, files)])
    assert result.get("changed") is True, log
    assert config.read_text() == '{"ok": false}\n' and good.read_text() == "new\n"


def test_secret_never_in_a_failure_and_links_are_refused(tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("untouched\n")
    link = tmp_path / "out" / "link"
    link.symlink_to(target)
    files = [{"dest": str(link), "secret_content": SECRET}]
    result, log = play(tmp_path, [task(tmp_path, files)], verbosity=3)
    assert result.get("failed") is True and "symbolic link" in result["msg"], log
    assert target.read_text() == "untouched\n" and link.is_symlink()
    assert SECRET not in log

    refused, log = play(tmp_path, [task(tmp_path, [{"dest": str(tmp_path / "out" / "x"), "secret_content": SECRET,
                                                    "validate": "/bin/false %s"}])], verbosity=3)
    assert refused.get("failed") is True and "validator" in refused["msg"], log
    assert SECRET not in log
    assert not (tmp_path / "out" / "x").exists()

    missing, log = play(tmp_path, [task(tmp_path, [{"dest": str(tmp_path / "new" / "x"), "content": "x",
                                                    "validate": "/nonexistent/validator %s"}],
                                        directories=[{"path": str(tmp_path / "new"), "mode": "0700"}])])
    assert missing.get("failed") is True and "/nonexistent/validator" in missing["msg"], log
    assert not (tmp_path / "new").exists()  # the directory it created and the staged copy are gone
    assert sorted(os.listdir(tmp_path / "out")) == ["link"]


def test_bad_input_names_the_entry(tmp_path):
    (tmp_path / "out").mkdir()
    result, log = play(tmp_path, [task(tmp_path, [{"dest": str(tmp_path / "out" / "a"), "content": "a"},
                                                  {"dest": str(tmp_path / "out" / "a"), "content": "b"}])])
    assert result.get("failed") is True and "files[1].dest" in result["msg"], log
    result, log = play(tmp_path, [task(tmp_path, [{"dest": str(tmp_path / "out" / "a"), "content": "a",
                                                   "validate": "/bin/true"}])])
    assert result.get("failed") is True and "files[0].validate" in result["msg"] and "%s" in result["msg"], log
    result, log = play(tmp_path, [task(tmp_path, [{"dest": str(tmp_path / "out" / "a"), "content": "a",
                                                   "owner": "no-such-user-%s" % uuid.uuid4().hex[:6]}])])
    assert result.get("failed") is True and "no-such-user" in result["msg"], log
    assert not (tmp_path / "out" / "a").exists()


def test_directories_are_created_fixed_and_removed_again_by_a_refused_run(tmp_path):
    (tmp_path / "out").mkdir()
    new_dir, deeper = tmp_path / "out" / "conf.d", tmp_path / "out" / "conf.d" / "inner"
    directories = [{"path": str(new_dir), "mode": "0750"}, {"path": str(deeper), "mode": "0700"}]
    parents, log = play(tmp_path, [task(tmp_path, [], directories=[{"path": str(tmp_path / "p" / "q" / "r"),
                                                                    "mode": "0700"}])])
    assert parents.get("changed") is True and (tmp_path / "p" / "q" / "r").is_dir(), log  # missing parents too
    assert stat.S_IMODE((tmp_path / "p" / "q" / "r").stat().st_mode) == 0o700
    refused, log = play(tmp_path, [task(tmp_path, [{"dest": str(deeper / "x.json"), "content": "{no\n",
                                                    "validate": "%s -m json.tool %%s" % sys.executable}],
                                        directories=directories)])
    assert refused.get("failed") is True and "refused" in refused["msg"], log
    assert not new_dir.exists()  # the run that created it removed it again

    files = [{"dest": str(deeper / "x.json"), "content": "{}\n"}]
    first, log = play(tmp_path, [task(tmp_path, files, directories=directories)])
    assert first.get("changed") is True and first["changed_directories"] == [str(new_dir), str(deeper)], log
    assert stat.S_IMODE(new_dir.stat().st_mode) == 0o750 and stat.S_IMODE(deeper.stat().st_mode) == 0o700
    again, log = play(tmp_path, [task(tmp_path, files, directories=directories)])
    assert again.get("changed") is False and again["changed_directories"] == [], log

    os.chmod(new_dir, 0o755)
    fixed, log = play(tmp_path, [task(tmp_path, files, directories=directories)])
    assert fixed.get("changed") is True and fixed["changed_directories"] == [str(new_dir)], log
    assert stat.S_IMODE(new_dir.stat().st_mode) == 0o750

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (tmp_path / "out" / "linked").symlink_to(elsewhere)
    linked, log = play(tmp_path, [task(tmp_path, [], directories=[{"path": str(tmp_path / "out" / "linked"),
                                                                  "mode": "0700"}])])
    assert linked.get("failed") is True and "symbolic link" in linked["msg"], log
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755

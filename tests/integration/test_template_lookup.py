# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The squaremcp.infra.template lookup renders what ansible.builtin.template's lookup renders (both through
ansible-playbook on this host): ansible_managed, the template_* variables, includes from the templates/ search path,
template_vars, inventory variables that are templates themselves, trailing newlines; and it fails as clearly."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent

MAIN = """# {{ ansible_managed }}
host={{ inventory_hostname }} path={{ template_path }}
greeting={{ greeting }}
{% include 'part.j2' %}
{% set shadow = 'inside' %}shadow={{ shadow }}
extra={{ extra | default('none') }}


"""
PART = "part of {{ site_name }}\n"


def run(work, tasks, play_vars=None):
    (work / "templates").mkdir(exist_ok=True)
    (work / "templates" / "main.j2").write_text(MAIN)
    (work / "templates" / "part.j2").write_text(PART)
    play = work / "play.yml"
    play.write_text(yaml.safe_dump([{
        "name": "template lookups", "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars": dict({"ansible_python_interpreter": sys.executable, "site_name": "{{ 'square' ~ 'mcp' }}",
                      "greeting": "hello", "shadow": "outside"}, **(play_vars or {})),
        "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_HOME=str(work / "ansible-home"))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(play)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    report = json.loads(done.stdout[done.stdout.index("{"):])
    return [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]], done.stdout + done.stderr


def render(lookup, *args):
    return {"name": lookup, "ansible.builtin.debug": {
        "msg": "{{ lookup('%s', 'main.j2'%s) }}" % (lookup, "".join(", " + a for a in args))}}


def test_renders_what_the_builtin_lookup_renders(tmp_path):
    tasks = [render("ansible.builtin.template"), render("squaremcp.infra.template"),
             render("ansible.builtin.template", "template_vars={'extra': 'given', 'greeting': 'over'}"),
             render("squaremcp.infra.template", "template_vars={'extra': 'given', 'greeting': 'over'}"),
             # nothing a lookup added (template_vars, the template's own set) leaks into the next one
             {"name": "after", "ansible.builtin.debug": {"msg": "{{ shadow }} {{ extra | default('none') }}"}}]
    results, log = run(tmp_path, tasks)
    builtin, ours, builtin_extra, ours_extra, after = (r.get("msg") for r in results)
    assert builtin == ours, log
    assert builtin_extra == ours_extra, log
    assert ours == ("# Ansible managed\nhost=localhost path=main.j2\ngreeting=hello\npart of squaremcpshadow=inside\n"
                    "extra=none\n\n\n"), repr(ours)
    assert "greeting=over" in ours_extra and "extra=given" in ours_extra
    assert after == "outside none"


def test_the_inventorys_ansible_managed_wins(tmp_path):
    results, log = run(tmp_path, [render("ansible.builtin.template"), render("squaremcp.infra.template")],
                       play_vars={"ansible_managed": "Written by {{ 'us' }}"})
    assert results[0]["msg"] == results[1]["msg"], log
    assert results[1]["msg"].startswith("# Written by us\n")


def test_a_missing_template_or_variable_fails_with_its_name(tmp_path):
    missing = {"name": "missing", "ansible.builtin.debug": {"msg": "{{ lookup('squaremcp.infra.template', 'nope.j2') }}"},
               "ignore_errors": True}
    results, log = run(tmp_path, [missing, render("squaremcp.infra.template")], play_vars={"greeting": "{{ undefined_thing }}"})
    assert results[0].get("failed") and "nope.j2" in results[0]["msg"] and "templates/" in results[0]["msg"], log
    assert results[1].get("failed") and "undefined_thing" in results[1]["msg"], log

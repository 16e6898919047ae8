# -*- coding: utf-8 -*-
"""squaremcp.infra.ingress_class through ansible-playbook on localhost: manifest files."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEED = os.path.join(ROOT, "tests", "fixtures", "manifests")

pytestmark = pytest.mark.slow


def run_playbook(tmp_path, tasks, extra_vars=None, check=False, diff=False, env=None, name="play"):
    """Run ``tasks`` on localhost; return ``{task name: result}`` from the json callback."""
    play = [{"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable}, "tasks": tasks}]
    book = tmp_path / ("%s.yml" % name)
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(book)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    environment = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_COLLECTIONS_PATH=os.path.join(
        ROOT, ".collections"), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_HOME=str(tmp_path / ".ansible"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"), TMPDIR=str(tmp_path), no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost", **(env or {}))
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=environment, capture_output=True, text=True, timeout=300, check=False)
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("ansible-playbook printed no json (rc %s): %s %s" % (proc.returncode, proc.stdout,
                                                                                  proc.stderr))
    results = {}
    for play_report in report["plays"]:
        for task in play_report["tasks"]:
            results[task["task"]["name"]] = task["hosts"].get("localhost", {})
    return results


def copy_seed(tmp_path):
    target = tmp_path / "repo"
    shutil.copytree(SEED, str(target))
    return sorted(glob.glob(str(target / "**" / "*.yaml"), recursive=True))


def digests(paths):
    return dict((p, hashlib.sha256(open(p, "rb").read()).hexdigest()) for p in paths)


def fix_task(name, paths, **params):
    args = dict(paths=paths, mode="reconcile", target_class="public")
    args.update(params)
    return {"name": name, "squaremcp.infra.ingress_class": args, "register": "out", "ignore_errors": True}


def test_files_check_mode_diff_reconcile_and_second_run(tmp_path):
    paths = copy_seed(tmp_path)
    before = digests(paths)
    checked = run_playbook(tmp_path, [fix_task("fix", paths)], check=True, diff=True)["fix"]
    assert checked["changed"] is True and digests(paths) == before
    assert sorted(os.path.basename(d["before_header"]) for d in checked["diff"]) == [
        "app-k8s.yaml", "docs-k8s.yaml", "hermes-k8s.yaml", "squaremcp-k8s-ingress.yaml"]
    assert sorted((m["name"], m["requested_via"]) for m in checked["mismatches"]) == [
        ("hermes-mcp", "annotation"), ("squaremcp-app", "field"), ("squaremcp-docs", "annotation"),
        ("squaremcp-site", "field"), ("squaremcp-www-redirect", "none")]

    results = run_playbook(tmp_path, [fix_task("fix", paths, backup=True), fix_task("again", paths)])
    fixed, again = results["fix"], results["again"]
    assert fixed["changed"] is True and all(f["backup"] for f in fixed["files"])
    assert again["changed"] is False and again["mismatches"] == [] and again["actions"] == []
    for path in paths:
        docs = [d for d in yaml.safe_load_all(open(path)) if d and d.get("kind") == "Ingress"]
        assert all(d["spec"]["ingressClassName"] == "public" for d in docs)
        assert all("kubernetes.io/ingress.class" not in (d["metadata"].get("annotations") or {}) for d in docs)
        original = os.path.join(SEED, os.path.relpath(path, str(tmp_path / "repo")))
        backup = [f["backup"] for f in fixed["files"] if f["path"] == path][0]
        assert open(backup).read() == open(original).read()


def test_one_bad_file_leaves_every_file_untouched(tmp_path):
    paths = copy_seed(tmp_path)
    broken = tmp_path / "repo" / "broken.yaml"
    broken.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x\n")
    before = digests(paths + [str(broken)])
    result = run_playbook(tmp_path, [fix_task("fix", paths + [str(broken)])])["fix"]
    assert result["failed"] is True
    assert "broken.yaml is not valid YAML, so it was left untouched" in result["msg"]
    assert digests(paths + [str(broken)]) == before


@pytest.mark.parametrize("params, message", [
    ({"strategy": "alias"}, "strategy alias changes IngressClasses in a cluster"),
    ({"target_class": "Public!"}, "is not a valid IngressClass name"),
    ({"target_class": "auto", "kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig /nonexistent/kubeconfig does not exist"),
])
def test_file_mode_bad_input(tmp_path, params, message):
    paths = copy_seed(tmp_path)
    before = digests(paths)
    result = run_playbook(tmp_path, [fix_task("fix", paths, **params)])["fix"]
    assert result["failed"] is True and message in result["msg"]
    assert digests(paths) == before

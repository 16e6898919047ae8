# -*- coding: utf-8 -*-
"""squaremcp.infra.ingress_class through ansible-playbook on localhost: manifest files."""

from __future__ import annotations

import base64
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
    repo = str(tmp_path / "repo" / "hermes-mcp") + os.sep
    assert sorted(d["before_header"].replace(repo, "") for d in checked["diff"]) == [
        "docs/docs-k8s.yaml (document 3: Ingress squaremcp/squaremcp-docs)",
        "hermes-k8s.yaml (document 5: Ingress hermes-mcp/hermes-mcp)",
        "product/app/app-k8s.yaml (document 3: Ingress squaremcp/squaremcp-app)",
        "product/site/squaremcp-k8s-ingress.yaml (document 1: Ingress squaremcp/squaremcp-site)",
        "product/site/squaremcp-k8s-ingress.yaml (document 2: Ingress squaremcp/squaremcp-www-redirect)"]
    hermes = next(d for d in checked["diff"] if "hermes-mcp/hermes-mcp" in d["before_header"])
    assert hermes["before"].startswith("apiVersion: networking.k8s.io/v1\nkind: Ingress\n")
    assert hermes["before"].endswith("                  number: 80\n")
    assert "ingressClassName: public" in hermes["after"] and "kubernetes.io/ingress.class" not in hermes["after"]
    assert sorted((m["name"], m["requested_via"]) for m in checked["mismatches"]) == [
        ("hermes-mcp", "annotation"), ("squaremcp-app", "field"), ("squaremcp-docs", "annotation"),
        ("squaremcp-site", "field"), ("squaremcp-www-redirect", "none")]

    plain = [p for p in paths if not p.endswith("hermes-k8s.yaml")]  # hermes-k8s.yaml carries a Secret
    results = run_playbook(tmp_path, [fix_task("fix", plain, backup=True), fix_task("fix hermes", paths),
                                      fix_task("again", paths)])
    fixed, again = results["fix"], results["again"]
    assert fixed["changed"] is True and all(f["backup"] for f in fixed["files"])
    assert results["fix hermes"]["changed"] is True
    assert again["changed"] is False and again["mismatches"] == [] and again["actions"] == []
    for path in paths:
        docs = [d for d in yaml.safe_load_all(open(path)) if d and d.get("kind") == "Ingress"]
        assert all(d["spec"]["ingressClassName"] == "public" for d in docs)
        assert all("kubernetes.io/ingress.class" not in (d["metadata"].get("annotations") or {}) for d in docs)
    for path in plain:
        original = os.path.join(SEED, os.path.relpath(path, str(tmp_path / "repo")))
        backup = [f["backup"] for f in fixed["files"] if f["path"] == path][0]
        assert open(backup).read() == open(original).read()


CANARY = "canary-7f3e9b2d41c8"
SECRET_NEXT_TO_INGRESS = """\
apiVersion: v1
kind: Secret
metadata:
  name: app-secrets
  namespace: apps
stringData:
  OAUTH_CLIENT_SECRET: "{canary}"
data:
  TOKEN: {encoded}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app
  namespace: apps
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  rules:
    - host: app.example.com
---
apiVersion: v1
kind: Secret
metadata:
  name: more-secrets
  namespace: apps
stringData:
  AFTER: "{canary}"
"""


def canary_manifest(tmp_path):
    path = tmp_path / "repo" / "app.yaml"
    path.parent.mkdir()
    encoded = base64.b64encode(CANARY.encode()).decode()
    path.write_text(SECRET_NEXT_TO_INGRESS.format(canary=CANARY, encoded=encoded))
    return str(path), encoded


def leaked(tmp_path, needles, callback, extra_args):
    """Run the rewrite (check mode, then for real) through ansible-playbook; return what showed a needle."""
    path = str(tmp_path / "repo" / "app.yaml")
    play = [{"name": "canary", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": sys.executable},
             "tasks": [fix_task("fix", [path], backup=True), fix_task("fix without backup", [path])]}]
    book = tmp_path / "canary.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_HOME=str(tmp_path / ".ansible"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"), TMPDIR=str(tmp_path), ANSIBLE_NOCOLOR="1")
    shown = {}
    for check in (True, False):
        cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", str(book),
               "--diff"] + extra_args + (["--check"] if check else [])
        proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
                              check=False)
        for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            shown["%s %s" % ("check" if check else "run", stream)] = [n for n in needles if n in text]
        shown["run output" if not check else "check output"] = proc.stdout
    return shown


@pytest.mark.parametrize("callback, extra_args", [("json", ["-v"]), ("default", ["-vvv"])])
def test_secret_values_next_to_an_ingress_never_leave_the_file(tmp_path, callback, extra_args):
    path, encoded = canary_manifest(tmp_path)
    shown = leaked(tmp_path, [CANARY, encoded, "OAUTH_CLIENT_SECRET"], callback, extra_args)
    outputs = (shown.pop("check output"), shown.pop("run output"))
    assert shown == {"check stdout": [], "check stderr": [], "run stdout": [], "run stderr": []}
    for output in outputs:  # the backup was refused before anything was written, with the reason
        assert "backup: true would leave a second plaintext copy of Secret values" in output
        assert "apps/app-secrets (document 1)" in output and "apps/more-secrets (document 3)" in output
    assert "ingressClassName: public" in outputs[1]  # the diff of the Ingress document was shown
    assert os.listdir(os.path.dirname(path)) == ["app.yaml"]  # no backup, no temp file
    fixed = list(yaml.safe_load_all(open(path)))
    assert fixed[1]["spec"]["ingressClassName"] == "public" and fixed[0]["stringData"]["OAUTH_CLIENT_SECRET"] == CANARY


def test_yaml_errors_do_not_quote_the_offending_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text('apiVersion: v1\nkind: Secret\nstringData:\n  KEY: "%s\n' % CANARY)
    result = run_playbook(tmp_path, [fix_task("fix", [str(path)])])["fix"]
    assert result["failed"] is True and "broken.yaml is not valid YAML, so it was left untouched" in result["msg"]
    assert "(line 4, column 8)" in result["msg"] and CANARY not in json.dumps(result)


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

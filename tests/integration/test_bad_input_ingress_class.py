# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""squaremcp.infra.ingress_class on manifest files under abuse, through ansible-playbook: YAML the
text rewrite cannot keep exact (merge keys, anchors and aliases, duplicate keys, tags) and symbolic
links are refused with a message that says what to do, nothing crashes or asks to "report this", and
every refused file stays byte for byte as it was (mode, owner, inode, mtime). What the module does
rewrite it rewrites in the file itself, never in a copy."""

from __future__ import annotations

import os
import textwrap

import pytest
import yaml

from tests.badinput import run_cases, state, texts

pytestmark = pytest.mark.slow

MODULE = "squaremcp.infra.ingress_class"
INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: site
{extra_meta}spec:
  ingressClassName: nginx
  rules:
    - host: squaremcp.com
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: hermes, namespace: site}
stringData:
  PASSWORD: canary-secret-4e1d
---
"""


def manifest(tmp_path, case, text, link=False):
    directory = tmp_path / case
    directory.mkdir()
    real = directory / ("real.yaml" if link else "web.yaml")
    real.write_text(textwrap.dedent(text))
    os.chown(real, 1234, 4321)
    os.chmod(real, 0o640)
    if link:
        os.symlink(str(real), str(directory / "web.yaml"))
    return directory, str(directory / "web.yaml")


REFUSED = {
    # YAML the text edit cannot rewrite faithfully: refused with the fix, never a crash or "report this"
    "merge-key": ("""\
        defaults: &defaults
          ingressClassName: nginx
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web, namespace: site}
        spec:
          <<: {ingressClassName: nginx}
          rules: [{host: squaremcp.com}]
        """, "merge keys"),
    "anchor-and-alias": ("""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web, namespace: site}
        spec:
          ingressClassName: &cls nginx
          defaultBackend: {service: {name: *cls, port: {number: 80}}}
        """, "anchors or aliases"),
    "duplicate-keys": ("""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web, namespace: site}
        spec:
          ingressClassName: nginx
          ingressClassName: traefik
        """, "duplicate key"),
    "tagged-class": ("""\
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web, namespace: site}
        spec:
          ingressClassName: !!str nginx
        """, "tag"),
    "secret-then-broken-yaml": (SECRET + "apiVersion: v1\nkind: Ingress\nmetadata: {name: web\n", "is not valid YAML"),
}


def test_yaml_the_rewrite_cannot_keep_is_refused_and_changes_nothing(tmp_path):
    cases, bases = {}, {}
    for name, (text, _message) in REFUSED.items():
        bases[name], path = manifest(tmp_path, name, text)
        cases[name] = {"paths": [path], "mode": "reconcile", "target_class": "public"}
    bases["link"], path = manifest(tmp_path, "link", INGRESS.format(extra_meta=""), link=True)
    cases["link"] = {"paths": [path], "mode": "reconcile", "target_class": "public"}
    before = {name: state(base) for name, base in bases.items()}
    run = run_cases(tmp_path, MODULE, cases, diff=True, verbosity=3)
    for name, base in bases.items():
        result = run[name]
        message = REFUSED[name][1] if name in REFUSED else "symbolic link"
        assert result.get("failed") and message in result["msg"], (name, result.get("msg"))
        assert "report this" not in result["msg"] and "Traceback" not in str(result), (name, result)
        assert not result.get("changed"), name
        assert state(base) == before[name], name
    assert "canary-secret-4e1d" not in run.output
    assert not [t for r in run.results.values() for t in texts(r) if "canary-secret-4e1d" in t]


def test_null_and_empty_metadata_are_rewritten_not_refused(tmp_path):
    """Null annotations, an empty annotations mapping, null labels: ordinary YAML, fixed like any other."""
    texts_by_case = {
        "null-annotations": INGRESS.format(extra_meta="  annotations:\n"),
        "tilde-annotations": INGRESS.format(extra_meta="  annotations: ~\n"),
        "empty-annotations": INGRESS.format(extra_meta="  annotations: {}\n"),
        "null-labels": INGRESS.format(extra_meta="  labels: null\n"),
        "annotation-and-null-labels": INGRESS.format(
            extra_meta="  labels:\n  annotations:\n    kubernetes.io/ingress.class: nginx\n"),
        "null-class-annotation": INGRESS.format(extra_meta="  annotations:\n    kubernetes.io/ingress.class:\n"),
        "empty-class-annotation-and-other": INGRESS.format(
            extra_meta="  annotations:\n    kubernetes.io/ingress.class: ''\n    team: web\n"),
    }
    cases, paths = {}, {}
    for name, text in texts_by_case.items():
        _base, paths[name] = manifest(tmp_path, name, text)
        cases[name] = {"paths": [paths[name]], "mode": "reconcile", "target_class": "public"}
    run = run_cases(tmp_path, MODULE, cases)
    for name, path in paths.items():
        result = run[name]
        assert not result.get("failed") and result["changed"], (name, result)
        doc = yaml.safe_load(open(path).read())
        assert doc["spec"]["ingressClassName"] == "public", name
        assert "kubernetes.io/ingress.class" not in ((doc["metadata"] or {}).get("annotations") or {}), name
        assert os.stat(path).st_mode & 0o777 == 0o640 and os.stat(path).st_uid == 1234, name  # kept

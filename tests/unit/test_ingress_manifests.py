# -*- coding: utf-8 -*-
"""Manifest files: only the class fields change, every other byte stays."""

from __future__ import annotations

import copy
import difflib
import glob
import os
import re

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import ingress as ing

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "manifests")
SEED = sorted(glob.glob(os.path.join(FIXTURES, "**", "*.yaml"), recursive=True))
CLASS_LINE = re.compile(r"^\s*(ingressClassName:|kubernetes\.io/ingress\.class:|annotations:\s*$)")


def read(path):
    with open(path) as handle:
        return handle.read()


def expected_documents(text, target):
    docs = copy.deepcopy(list(yaml.safe_load_all(text)))
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Ingress":
            doc["spec"]["ingressClassName"] = target
            annotations = doc["metadata"].get("annotations") or {}
            annotations.pop(ing.ANNOTATION_CLASS, None)
            if "annotations" in doc["metadata"] and not annotations:
                del doc["metadata"]["annotations"]
    return docs


def test_the_four_seed_manifests_are_all_found():
    names = sorted(os.path.relpath(p, FIXTURES) for p in SEED)
    assert names == ["hermes-mcp/docs/docs-k8s.yaml", "hermes-mcp/hermes-k8s.yaml",
                     "hermes-mcp/product/app/app-k8s.yaml", "hermes-mcp/product/site/squaremcp-k8s-ingress.yaml"]


@pytest.mark.parametrize("path", SEED, ids=os.path.basename)
def test_rewrite_changes_only_class_lines_and_is_idempotent(path):
    text = read(path)
    manifest = ing.ManifestFile(path, text)
    new_text, changes = manifest.rewrite("public")
    assert changes, "every seed manifest asks for nginx or for nothing"
    assert list(yaml.safe_load_all(new_text)) == expected_documents(text, "public")
    changed = [line for line in difflib.ndiff(text.splitlines(), new_text.splitlines()) if line[:2] in ("- ", "+ ")]
    assert changed and all(CLASS_LINE.match(line[2:]) for line in changed), changed
    again, more = ing.ManifestFile(path, new_text).rewrite("public")
    assert (again, more) == (new_text, [])


def test_hermes_keeps_its_other_annotations_and_comments():
    path = [p for p in SEED if p.endswith("hermes-k8s.yaml")][0]
    new_text, changes = ing.ManifestFile(path, read(path)).rewrite("public")
    assert changes == [{"document": 5, "namespace": "hermes-mcp", "name": "hermes-mcp",
                        "before": {"ingressClassName": None, "annotation": "nginx"},
                        "after": {"ingressClassName": "public", "annotation": None}}]
    assert '    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"  # SSE streams stay open\n' in new_text
    assert "spec:\n  ingressClassName: public\n  tls:\n" in new_text
    assert "kubernetes.io/ingress.class" not in new_text


def test_quoting_style_of_an_existing_value_is_kept():
    path = [p for p in SEED if p.endswith("app-k8s.yaml")][0]
    new_text, _changes = ing.ManifestFile(path, read(path)).rewrite("public")
    assert '  ingressClassName: "public"  # TODO: microk8s serves "public"\n' in new_text


def test_annotations_block_goes_when_the_class_was_its_only_entry():
    path = [p for p in SEED if p.endswith("docs-k8s.yaml")][0]
    text = read(path)
    new_text, _changes = ing.ManifestFile(path, text).rewrite("public")
    assert "  # the only annotation: the whole block goes when it is removed\nspec:\n  ingressClassName: public\n" \
        in new_text
    assert new_text.endswith("                  number: 80\n...\n")


def test_classless_second_document_gets_the_field():
    path = [p for p in SEED if p.endswith("squaremcp-k8s-ingress.yaml")][0]
    new_text, changes = ing.ManifestFile(path, read(path)).rewrite("public")
    assert [(c["name"], c["before"]["ingressClassName"]) for c in changes] == [
        ("squaremcp-site", "nginx"), ("squaremcp-www-redirect", None)]
    assert new_text.count("  ingressClassName: public\n") == 2


EXACT = """\
apiVersion: networking.k8s.io/v1   # keep me
kind: Ingress
metadata:
  name: a
  annotations:
    kubernetes.io/ingress.class: >-
      nginx
    other: x
spec:
  ingressClassName:
  rules: []
"""


def test_exact_output_for_a_block_scalar_annotation_and_an_empty_field():
    new_text, _changes = ing.ManifestFile("x.yaml", EXACT).rewrite("public")
    assert new_text == EXACT.replace("    kubernetes.io/ingress.class: >-\n      nginx\n", "").replace(
        "  ingressClassName:\n", "  ingressClassName: public\n")


def test_crlf_files_stay_crlf():
    text = "apiVersion: networking.k8s.io/v1\r\nkind: Ingress\r\nmetadata:\r\n  name: a\r\nspec:\r\n  rules: []\r\n"
    new_text, _changes = ing.ManifestFile("x.yaml", text).rewrite("public")
    assert new_text == text.replace("spec:\r\n", "spec:\r\n  ingressClassName: public\r\n")


def test_class_names_yaml_would_misread_are_quoted():
    text = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\nspec:\n  rules: []\n"
    new_text, _changes = ing.ManifestFile("x.yaml", text).rewrite("true")
    assert '  ingressClassName: "true"\n' in new_text
    assert yaml.safe_load(new_text)["spec"]["ingressClassName"] == "true"


def test_files_without_ingress_are_not_touched():
    text = "# only a service\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
    assert ing.ManifestFile("s.yaml", text).rewrite("public") == (text, [])


@pytest.mark.parametrize("text, message", [
    ("kind: Ingress\nmetadata: {name: a\n", "is not valid YAML, so it was left untouched"),
    ("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: a}\nspec: {}\n", "removed in Kubernetes 1.22"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: a\n"
     "  annotations: {kubernetes.io/ingress.class: nginx}\nspec:\n  rules: []\n", "flow style"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\nspec: {rules: []}\n",
     "spec is missing, empty or written in flow style"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: a\n"
     "  annotations:\n    kubernetes.io/ingress.class: nginx\nspec:\n  ingressClassName: [x]\n",
     "spec.ingressClassName is not a scalar"),
])
def test_layouts_that_cannot_be_edited_safely_are_refused(text, message):
    with pytest.raises(ing.ManifestError, match=re.escape(message)):
        ing.ManifestFile("bad.yaml", text).rewrite("public")


def test_decode_keeps_the_bom_aside_and_refuses_binary():
    assert ing.decode_manifest("a", b"\xef\xbb\xbfkind: Ingress\n") == (b"\xef\xbb\xbf", "kind: Ingress\n")
    with pytest.raises(ing.ManifestError, match="is not UTF-8 text"):
        ing.decode_manifest("a", b"\xff\xfe\x00k")
    with pytest.raises(ing.ManifestError, match="does not exist"):
        ing.decode_manifest("a", None)


# --- what a diff and a backup may show ----------------------------------------------------------

SECRET_AROUND_INGRESS = """\
apiVersion: v1
kind: Secret
metadata: {name: before, namespace: apps}
stringData:
  KEY: value-before
---
# the Ingress
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: apps
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  rules:
    - host: web.example.com
# trailing comment of the Ingress document

---
apiVersion: v1
kind: Secret
metadata: {name: after}
data: {KEY: dmFsdWUtYWZ0ZXI=}
"""


def test_diffs_show_only_the_ingress_documents():
    _text, changes, diffs = ing.ManifestFile("m.yaml", SECRET_AROUND_INGRESS).rewrite_with_diffs("public")
    assert len(changes) == 1
    assert diffs == [{
        "before_header": "m.yaml (document 2: Ingress apps/web)", "after_header": "m.yaml (document 2: Ingress apps/web)",
        "before": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  namespace: apps\n"
                  "  annotations:\n    kubernetes.io/ingress.class: nginx\nspec:\n  rules:\n"
                  "    - host: web.example.com\n",
        "after": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  namespace: apps\n"
                 "spec:\n  ingressClassName: public\n  rules:\n    - host: web.example.com\n"}]


@pytest.mark.parametrize("path", SEED, ids=os.path.basename)
def test_seed_diffs_hold_the_changed_ingress_documents_and_nothing_else(path):
    text = read(path)
    new_text, changes, diffs = ing.ManifestFile(path, text).rewrite_with_diffs("public")
    assert len(diffs) == len(changes) > 0
    for diff in diffs:
        assert diff["before"] in text and diff["after"] in new_text
        assert [d["kind"] for d in yaml.safe_load_all(diff["before"])] == ["Ingress"]
        assert "CHANGE_ME" not in diff["before"] + diff["after"]


def test_secrets_with_values_are_named_without_values():
    assert ing.ManifestFile("m.yaml", SECRET_AROUND_INGRESS).secrets_with_values() == [
        "apps/before (document 1)", "default/after (document 3)"]
    hermes = [p for p in SEED if p.endswith("hermes-k8s.yaml")][0]
    assert ing.ManifestFile(hermes, read(hermes)).secrets_with_values() == ["hermes-mcp/hermes-secrets (document 2)"]
    listed = "kind: List\napiVersion: v1\nitems:\n  - {kind: Secret, metadata: {name: s}, data: {K: dg==}}\n"
    assert ing.ManifestFile("l.yaml", listed).secrets_with_values() == ["default/s (document 1)"]
    empty = "kind: Secret\napiVersion: v1\nmetadata: {name: e}\ndata: {}\nstringData:\n"
    assert ing.ManifestFile("e.yaml", empty).secrets_with_values() == []


def test_yaml_errors_name_the_place_but_never_quote_the_line():
    with pytest.raises(ing.ManifestError) as info:
        ing.ManifestFile("s.yaml", 'kind: Secret\nstringData:\n  KEY: "s3cr3t-value\n')
    assert "while scanning a quoted scalar (line 3, column 8)" in str(info.value)
    assert "s3cr3t" not in str(info.value)

"""The double's patch and selector functions on their own (the client tests cover them end to end)."""

from __future__ import annotations

import pytest

from tests.kube.double import (
    JsonPatchError,
    json_patch,
    labels_match,
    merge_patch,
    parse_label_selector,
    strategic_merge,
)


@pytest.mark.parametrize("selector, labels, expected", [
    ("a=1", {"a": "1"}, True),
    ("a=1", {"a": "2"}, False),
    ("a!=1", {}, True),
    ("a notin (1,2)", {}, True),
    ("a in (1,2)", {}, False),
    ("example.com/role in ( x , y )", {"example.com/role": "y"}, True),
    ("a,!b", {"a": ""}, True),
    ("", {"anything": "x"}, True),
])
def test_label_selector_semantics(selector, labels, expected):
    assert labels_match(parse_label_selector(selector), labels) is expected


@pytest.mark.parametrize("selector", ["a=b=c", "a in ()", "a in b", "Bad Key=1", "a=x y"])
def test_label_selector_rejects_malformed(selector):
    with pytest.raises(ValueError):
        parse_label_selector(selector)


def test_merge_patch_is_rfc7386():
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3}, "l": [3]}
    assert merge_patch({"a": 1}, ["replaced"]) == ["replaced"]


def test_strategic_merge_keys_directives_and_primitive_sets():
    current = {"metadata": {"finalizers": ["a"]},
               "spec": {"ports": [{"port": 80, "name": "http"}], "selector": {"app": "x"},
                        "containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}
    patch = {"metadata": {"finalizers": ["b", "a"]},
             "spec": {"$retainKeys": ["ports"], "ports": [{"port": 443, "name": "https"}, {"port": 80, "name": "web"}],
                      "selector": {"$patch": "replace", "tier": "y"},
                      "containers": [{"name": "c", "ports": [{"containerPort": 81}]}]}}
    merged = strategic_merge(current, patch)
    assert merged["metadata"]["finalizers"] == ["a", "b"]
    assert merged["spec"]["ports"] == [{"port": 80, "name": "web"}, {"port": 443, "name": "https"}]
    assert merged["spec"]["selector"] == {"tier": "y"}
    assert merged["spec"]["containers"][0]["ports"] == [{"containerPort": 80}, {"containerPort": 81}]
    replaced = strategic_merge(current, {"spec": {"ports": [{"$patch": "replace"}, {"port": 1}]}})
    assert replaced["spec"]["ports"] == [{"port": 1}]
    pruned = strategic_merge(current, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert pruned["metadata"]["finalizers"] == []
    assert current["metadata"]["finalizers"] == ["a"]  # inputs are never modified


def test_json_patch_arrays_and_errors():
    doc = {"l": [1, 2, 3]}
    assert json_patch(doc, [{"op": "add", "path": "/l/-", "value": 4}, {"op": "add", "path": "/l/0", "value": 0},
                            {"op": "remove", "path": "/l/1"}]) == {"l": [0, 2, 3, 4]}
    assert json_patch(doc, [{"op": "replace", "path": "", "value": {"x": 1}}]) == {"x": 1}
    for bad in ([{"op": "remove", "path": "/nope"}], [{"op": "test", "path": "/l/0", "value": True}],
                [{"op": "add", "path": "/l/9", "value": 1}], [{"op": "frobnicate", "path": "/l"}], {"op": "add"}):
        with pytest.raises(JsonPatchError):
            json_patch(doc, bad)
    assert doc == {"l": [1, 2, 3]}


def test_json_pointer_escapes():
    assert json_patch({"a~b": 1, "c/d": 2}, [{"op": "remove", "path": "/a~0b"}, {"op": "remove", "path": "/c~1d"}]) == {}

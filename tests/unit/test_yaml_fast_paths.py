# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_yaml's fast paths (event loader, node dumper, comment scan with libyaml) give PyYAML's own results."""

from __future__ import annotations

import datetime
import glob
import math
import os

import pytest
import yaml

from ansible_collections.squaremcp.infra.plugins.module_utils import _yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRICKY = [
    "", "---\n", "a: 1\n---\nb: 2\n", "a: &x {b: 1}\nc: *x\n", "<<: {a: 1}\nb: 2\n", "a: 1\na: 2\n", "1: a\ntrue: b\n",
    "a: !!str 1\n", "a: !custom 1\n", "? [a, b]\n: c\n", "= : v\n", "a: b: c\n", "a: 2020-13-45\n", "- - - deep\n",
    "x: [1, 2.5, .nan, -.inf, 0x1F, 0o17, 1_000, yes, no, ~, null, 2001-12-14t21:59:43.10-05:00, 2002-12-14]\n",
    "a: '1'\nb: \"true\"\nc: 'null'\nd: |\n  x\n  y\ne: >\n  f\n  g\n", "\ufeffa: 1\n", "%YAML 1.1\n---\na: 1\n...\n",
    "a: !!binary aGVsbG8=\n", "1.5: x\n2: y\n", "{a: 1, b: [x, {c: d}]}\n", "a: 'é # x' # c\n# ü\nb: \"😀\" # d\n",
]


def _corpus():
    texts = list(TRICKY)
    for pattern in ("roles/**/*.yml", "inventory/**/*.yml", "molecule/**/*.yml", "tests/fixtures/**/*.yml"):
        for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
            with open(path, encoding="utf-8") as handle:
                texts.append(handle.read())
    return texts


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(type(k) is type(j) for k, j in zip(a, b)) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _outcome(function, *args):
    try:
        return "ok", function(*args)
    except Exception as exc:  # pylint: disable=broad-except
        return "error", type(exc).__name__, str(exc)


def test_load_gives_pyyaml_results_and_errors():
    texts = _corpus()
    assert len(texts) > 100
    for text in texts:
        want = _outcome(lambda t: yaml.load(t, Loader=_yaml.UniqueKeyLoader), text)  # nosec B506
        got = _outcome(_yaml.load, text)
        assert want[0] == got[0], text
        assert _same(want[1], got[1]) if want[0] == "ok" else want == got, text


def test_plain_documents_skip_the_full_loader_and_others_use_it(monkeypatch):
    calls = []
    full = yaml.load
    monkeypatch.setattr(yaml, "load", lambda *a, **k: calls.append(a[0]) or full(*a, **k))
    assert _yaml.load("http:\n  routers:\n    a: {rule: 'Host(`a`)', priority: 10}\n") == {
        "http": {"routers": {"a": {"rule": "Host(`a`)", "priority": 10}}}}
    assert not calls
    assert _yaml.load("a: &x [1]\nb: *x\n") == {"a": [1], "b": [1]}
    with pytest.raises(yaml.YAMLError, match="duplicate key 'a'"):
        _yaml.load("a: 1\na: 2\n")
    assert len(calls) == 2


class _Text(str):
    pass


@pytest.mark.parametrize("width", [80, 4096])
def test_dump_sorted_gives_pyyaml_text(width):
    shared = {"k": [1, 2]}
    docs = [yaml.load(text, Loader=_yaml.UniqueKeyLoader) for text in _corpus()  # nosec B506
            if _outcome(_yaml.load, text)[0] == "ok"]
    docs += [{"a": shared, "b": shared}, {"a": (1, 2)}, {"a": {1, 2}}, {"a": datetime.datetime(2020, 1, 2, 3, 4, 5)},
             {"a": b"\x00"}, {"a": _Text("s")}, {1: "a", "b": 2}, [], {}, None, [[[]]],
             {"é": "ü ☃ 😀", "long": "x " * 3000, "multi": "a\nb\n", "trail": "a ", "n": "123", "t": "true", "e": "",
              "hash": "a #b", "f": [1.0, 1e300, -0.0, float("inf"), float("nan"), 10 ** 30, True, None]}]
    for doc in docs:
        want = _outcome(lambda d: yaml.dump(d, Dumper=_yaml.DUMPER, sort_keys=True, default_flow_style=False,
                                            allow_unicode=True, width=width, indent=2), doc)
        assert _outcome(lambda d: _yaml.dump_sorted(d, width=width, indent=2), doc) == want


def test_comment_scan_with_libyaml_finds_what_the_pure_python_scanner_finds(monkeypatch):
    texts = _corpus()
    found = [_yaml.comment_lines(text) for text in texts]
    assert any(found)
    monkeypatch.setattr(_yaml, "_LOADER_BASE", yaml.SafeLoader)
    assert [_yaml.comment_lines(text) for text in texts] == found

# -*- coding: utf-8 -*-
"""The microk8s role's meta/argument_specs.yml mirrors defaults/main.yml, key by key and value by value."""

from __future__ import annotations

import os

import yaml

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "microk8s")


def load(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


def test_argument_specs_mirror_the_defaults():
    defaults = load("defaults", "main.yml")
    options = load("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults)
    missing = sorted(name for name, spec in options.items() if "default" not in spec)
    assert missing == [], "options without a default (defaults/main.yml sets every one)"
    differ = dict((name, (spec["default"], defaults[name])) for name, spec in options.items()
                  if spec["default"] != defaults[name])
    assert differ == {}

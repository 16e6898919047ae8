# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml mirrors its defaults/main.yml, and names carry the role prefix."""

from __future__ import annotations

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def spec_options(role):
    """Options of every entry point, merged (entry points such as restore or sync share the defaults)."""
    options = {}
    for entry in load(role / "meta" / "argument_specs.yml")["argument_specs"].values():
        options.update(entry.get("options") or {})
    return options


def templated(value, spec):
    """A default computed from other variables cannot be stated in the spec; it must then have none."""
    return "{{" in str(value) and "default" not in spec


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_specified_with_the_same_value(role):
    defaults = load(role / "defaults" / "main.yml") or {}
    options = spec_options(role)
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec"
    mismatched = {name: (defaults[name], options[name].get("default")) for name in defaults
                  if options[name].get("default") != defaults[name] and not templated(defaults[name], options[name])}
    assert mismatched == {}, "argument_specs default differs from defaults/main.yml"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_specified_option_has_a_default_or_is_required(role):
    defaults = load(role / "defaults" / "main.yml") or {}
    loose = sorted(name for name, spec in spec_options(role).items()
                   if name not in defaults and not spec.get("required"))
    assert loose == [], "options with neither a default in defaults/main.yml nor required: true"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_variables_carry_the_role_prefix(role):
    names = set(load(role / "defaults" / "main.yml") or {}) | set(spec_options(role))
    assert sorted(n for n in names if not n.startswith(role.name + "_")) == []

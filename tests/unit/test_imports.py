# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""forget_failed_imports: module_utils that missed a library are imported again (Mitogen keeps them between tasks)."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from ansible_collections.squaremcp.infra.plugins.module_utils import _imports

PACKAGE = _imports.PREFIX.rstrip(".")


@pytest.fixture
def fake_modules():
    """Fake module_utils of ours in sys.modules and on their package; sys.modules and the package as they were after."""
    package = importlib.import_module(PACKAGE)
    modules, attributes = dict(sys.modules), dict(vars(package))

    def add(name, **flags):
        module = types.ModuleType(_imports.PREFIX + name)
        module.__dict__.update(flags)
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        return module

    yield package, add
    sys.modules.clear()
    sys.modules.update(modules)
    vars(package).clear()
    vars(package).update(attributes)


def test_nothing_is_dropped_when_every_library_was_found(fake_modules):
    package, add = fake_modules
    found = add("_fake_found", HAS_YAML=True)
    assert _imports.forget_failed_imports() == []
    assert sys.modules[found.__name__] is found and package._fake_found is found


def test_all_of_ours_are_dropped_when_one_missed_a_library(fake_modules):
    package, add = fake_modules
    missed = add("_fake_missed", HAS_CRYPTOGRAPHY=False, HAS_YAML=True)
    user = add("_fake_user", HAS_CRYPTOGRAPHY=True)  # imported names of the other: must go too
    dropped = _imports.forget_failed_imports()
    assert {missed.__name__, user.__name__} <= set(dropped)
    assert _imports.__name__ not in dropped and _imports.__name__ in sys.modules
    for name in ("_fake_missed", "_fake_user"):
        assert _imports.PREFIX + name not in sys.modules and not hasattr(package, name)
    assert PACKAGE in sys.modules and "pytest" in sys.modules  # only the modules under the package


def test_a_flag_that_is_not_a_boolean_false_does_not_count(fake_modules):
    _package, add = fake_modules
    add("_fake_other", HAS_NOTHING=None, HAS_LIST=[], VERSION=False)
    assert _imports.forget_failed_imports() == []

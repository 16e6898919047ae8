# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over module_utils/_packages.py: what a role still has to install (each documented in <name>.yml)."""

from __future__ import annotations

import importlib

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils._packages"


def _module():
    """module_utils/_packages.py, imported when a filter runs: Ansible loads every filter file of the collection in each
    task's worker to find one filter, so an import here would slow down every task that uses any of them."""
    return importlib.import_module(_IMPLEMENTATION)


def _lazy(name):
    def call(*args, **kwargs):
        return getattr(_module(), name)(*args, **kwargs)
    call.__name__ = name
    return call


class FilterModule(object):
    def filters(self):
        return {
            "dpkg_query_argv": _lazy("query_argv"),
            "packages_missing": _lazy("missing"),
            "files_to_copy": _lazy("files_to_copy"),
            "stat_argv": _lazy("stat_argv"),
            "directories_to_create": _lazy("directories_to_create"),
            "systemd_units_argv": _lazy("units_argv"),
            "systemd_units_to_change": _lazy("units_to_change"),
        }

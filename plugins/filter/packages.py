# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over module_utils/_packages.py: what a role still has to install (each documented in <name>.yml)."""

from __future__ import annotations

from ansible_collections.squaremcp.infra.plugins.module_utils import _packages


class FilterModule(object):
    def filters(self):
        return {
            "dpkg_query_argv": _packages.query_argv,
            "packages_missing": _packages.missing,
            "files_to_copy": _packages.files_to_copy,
            "stat_argv": _packages.stat_argv,
            "directories_to_create": _packages.directories_to_create,
            "systemd_units_argv": _packages.units_argv,
            "systemd_units_to_change": _packages.units_to_change,
        }

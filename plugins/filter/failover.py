# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over module_utils/_failover.py for the edge_failover role (each documented in <name>.yml)."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils._failover"


def _module():
    """module_utils/_failover.py, imported when a filter runs: Ansible loads every filter file of the collection in each
    task's worker to find one filter, so an import here would slow down every task that uses any of them."""
    return importlib.import_module(_IMPLEMENTATION)


def _lazy(name):
    def call(*args, **kwargs):
        return getattr(_module(), name)(*args, **kwargs)
    call.__name__ = name
    return call


def _wrap(name, func):
    def filter_function(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _module().FailoverError as exc:
            raise AnsibleFilterError("%s: %s" % (name, exc))
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise AnsibleFilterError("%s: unexpected input (%s)" % (name, exc))
    filter_function.__name__ = name
    return filter_function


class FilterModule(object):
    def filters(self):
        functions = {
            "edge_failover_link": _lazy("link_dict"),
            "edge_failover_plan": _lazy("plan"),
        }
        return dict((name, _wrap(name, func)) for name, func in functions.items())

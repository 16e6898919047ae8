# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over module_utils/_failover.py for the edge_failover role (each documented in <name>.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.module_utils import _failover


def _wrap(name, func):
    def filter_function(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _failover.FailoverError as exc:
            raise AnsibleFilterError("%s: %s" % (name, exc))
        except (TypeError, AttributeError, KeyError, ValueError) as exc:
            raise AnsibleFilterError("%s: unexpected input (%s)" % (name, exc))
    filter_function.__name__ = name
    return filter_function


class FilterModule(object):
    def filters(self):
        functions = {
            "edge_failover_link": _failover.link_dict,
            "edge_failover_plan": _failover.plan,
        }
        return dict((name, _wrap(name, func)) for name, func in functions.items())

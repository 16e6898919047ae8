# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over module_utils/microk8s.py for the microk8s role (each documented in <name>.yml)."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils.microk8s"


def _module():
    """module_utils/microk8s.py, imported when a filter runs: Ansible loads every filter file of the collection in each
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
        except _module().Microk8sError as exc:
            raise AnsibleFilterError("%s: %s" % (name, exc))
        except (TypeError, AttributeError, KeyError) as exc:
            raise AnsibleFilterError("%s: unexpected input (%s)" % (name, exc))
    filter_function.__name__ = name
    return filter_function


def _add_node(text, address=None):
    parsed = _module().parse_add_node(text)
    parsed["url"] = _module().join_url(parsed, address)
    return parsed


def _host_port_patch(daemonset, http, https):
    return _module().host_port_patch(daemonset, http, https)


class FilterModule(object):
    def filters(self):
        functions = {
            "microk8s_status": _lazy("parse_status"),
            "microk8s_add_node": _add_node,
            "microk8s_addon_plan": _lazy("addon_plan"),
            "microk8s_edge_guard": _lazy("edge_guard"),
            "microk8s_host_port_patch": _host_port_patch,
            "microk8s_host_ports": _lazy("host_ports"),
        }
        return dict((name, _wrap(name, func)) for name, func in functions.items())

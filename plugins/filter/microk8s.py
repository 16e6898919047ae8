# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja2 filters over module_utils/microk8s.py for the microk8s role (each documented in <name>.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.module_utils import microk8s as mk


def _wrap(name, func):
    def filter_function(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except mk.Microk8sError as exc:
            raise AnsibleFilterError("%s: %s" % (name, exc))
        except (TypeError, AttributeError, KeyError) as exc:
            raise AnsibleFilterError("%s: unexpected input (%s)" % (name, exc))
    filter_function.__name__ = name
    return filter_function


def _add_node(text, address=None):
    parsed = mk.parse_add_node(text)
    parsed["url"] = mk.join_url(parsed, address)
    return parsed


def _host_port_patch(daemonset, http, https):
    return mk.host_port_patch(daemonset, http, https)


class FilterModule(object):
    def filters(self):
        functions = {
            "microk8s_status": mk.parse_status,
            "microk8s_add_node": _add_node,
            "microk8s_addon_plan": mk.addon_plan,
            "microk8s_edge_guard": mk.edge_guard,
            "microk8s_host_port_patch": _host_port_patch,
            "microk8s_host_ports": mk.host_ports,
        }
        return dict((name, _wrap(name, func)) for name, func in functions.items())

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the stacks role: thin wrappers over module_utils/_stack_spec.py (documented in stacks_render.yml,
stacks_problems.yml, stacks_vault_status.yml, stacks_live.yml
and stacks_files.yml beside this file)."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils._stack_spec"


def _module():
    """module_utils/_stack_spec.py, imported when a filter runs: Ansible loads every filter file of the collection in each
    task's worker to find one filter, so an import here would slow down every task that uses any of them."""
    return importlib.import_module(_IMPLEMENTATION)


def stacks_render(stacks, root="/opt/stacks", restart="unless-stopped"):
    """Compose documents, file secrets, env files and vault keys of the stacks (no secret value)."""
    if not isinstance(stacks, dict):
        raise AnsibleFilterError("squaremcp.infra.stacks_render: stacks_stacks must map stack names to stacks")
    return _module().render(stacks, root, restart)


def stacks_problems(stacks, vault_status=None, live=None):
    """Every reason to refuse the stacks, as messages naming the inventory key (never a secret)."""
    return _module().problems(stacks, vault_status or {}, live)


def stacks_vault_status(values):
    """ok / undefined / empty / placeholder / unsafe_for_env for each value (values are never returned)."""
    if not isinstance(values, (list, tuple)):
        raise AnsibleFilterError("squaremcp.infra.stacks_vault_status: give a list of values")
    return [_module().vault_status(value) for value in values]


def stacks_live(host_info):
    """Networks and containers (name, project, published ports) from community.docker.docker_host_info."""
    if not isinstance(host_info, dict):
        raise AnsibleFilterError("squaremcp.infra.stacks_live: give the registered result of docker_host_info")
    return _module().live_state(host_info.get("networks"), host_info.get("containers"))


def stacks_files(rendered, values):
    """The stacks option of squaremcp.infra.stack_files: what stacks_render gave, with the vault values filled in."""
    if not isinstance(rendered, dict) or not isinstance(values, dict):
        raise AnsibleFilterError("squaremcp.infra.stacks_files: give stacks_render's result and a dict of vault values")
    return _module().module_stacks(rendered, values)


class FilterModule(object):
    def filters(self):
        return {"stacks_render": stacks_render, "stacks_problems": stacks_problems,
                "stacks_vault_status": stacks_vault_status, "stacks_live": stacks_live,
                "stacks_files": stacks_files}

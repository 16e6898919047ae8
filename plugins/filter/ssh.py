# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH key filters (documentation: ssh_public_key_info.yml beside this file)."""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleFilterError

_IMPLEMENTATION = "ansible_collections.squaremcp.infra.plugins.module_utils._ssh_keys"


def _module():
    """module_utils/_ssh_keys.py, imported when a filter runs: Ansible loads every filter file of the collection in each
    task's worker to find one filter, so an import here would slow down every task that uses any of them."""
    return importlib.import_module(_IMPLEMENTATION)


def ssh_public_key_info(line):
    """One public key line -> type, bits, comment, signature_algorithms."""
    try:
        return _module().parse(line).as_dict()
    except _module().SshKeyError as exc:
        raise AnsibleFilterError("ssh_public_key_info: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"ssh_public_key_info": ssh_public_key_info}

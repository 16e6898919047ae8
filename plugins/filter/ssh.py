# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH key filters (documentation: ssh_public_key_info.yml beside this file)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.module_utils import _ssh_keys


def ssh_public_key_info(line):
    """One public key line -> type, bits, comment, signature_algorithms."""
    try:
        return _ssh_keys.parse(line).as_dict()
    except _ssh_keys.SshKeyError as exc:
        raise AnsibleFilterError("ssh_public_key_info: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"ssh_public_key_info": ssh_public_key_info}

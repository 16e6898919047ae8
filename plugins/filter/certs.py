# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate filters (documentation: cert_info.yml beside this file)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes


def cert_info(pem):
    """PEM text (leaf first) -> facts about the leaf: subject, issuer, domains, not_after, days_left, fingerprint."""
    # Imported here (cryptography): Ansible imports every filter file of the collection in each task's worker.
    from ansible_collections.squaremcp.infra.plugins.module_utils import _cert_inspect as certs

    if not certs.HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("cert_info needs the Python library cryptography on the controller")
    if not isinstance(pem, (str, bytes)):
        raise AnsibleFilterError("cert_info expects PEM text, got %s" % type(pem).__name__)
    try:
        return certs.cert_info(to_bytes(pem))
    except certs.CertError as exc:
        raise AnsibleFilterError("cert_info: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"cert_info": cert_info}

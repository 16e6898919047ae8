# -*- coding: utf-8 -*-
"""The cert_info filter: same facts as the module, clear error on bad input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.squaremcp.infra.plugins.filter.certs import FilterModule
from tests.certs_factory import GARBAGE, CertFactory

cert_info = FilterModule().filters()["cert_info"]


def test_cert_info_on_text_and_bytes():
    pair = CertFactory().valid("shop.example.com", kind="rsa")
    info = cert_info(pair.crt.decode())
    assert info == cert_info(pair.crt)
    assert info["domains"] == ["shop.example.com", "www.shop.example.com"]
    assert info["fingerprint"] == pair.fingerprint
    assert info["days_left"] == 89 and info["public_key_type"] == "RSA" and info["chain_length"] == 2


@pytest.mark.parametrize("value, message", [
    (GARBAGE, "cert_info: the input holds a CERTIFICATE block that is not valid base64"),
    ("", "holds no PEM block"),
    (42, "expects PEM text, got int"),
])
def test_cert_info_errors(value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cert_info(value)

# -*- coding: utf-8 -*-
"""The ssh_public_key_info filter: sizes as OpenSSH's ssh-keygen reports them, clear errors."""

from __future__ import annotations

import base64
import pathlib
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from ansible_collections.squaremcp.infra.plugins.filter.ssh import FilterModule

info = FilterModule().filters()["ssh_public_key_info"]

KEYS = {
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa3072": lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072),
    "rsa3071": lambda: rsa.generate_private_key(public_exponent=3, key_size=3071),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "dsa": lambda: dsa.generate_private_key(key_size=1024),
}


def openssh_line(key, comment="ops@laptop"):
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return line + " " + comment


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen as the reference")
@pytest.mark.filterwarnings("ignore:SSH DSA key support is deprecated")
@pytest.mark.parametrize("name", sorted(KEYS))
def test_bits_and_type_agree_with_ssh_keygen(name, tmp_path: pathlib.Path):
    line = openssh_line(KEYS[name]())
    (tmp_path / "key.pub").write_text(line + "\n")
    reference = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "key.pub")],
                               capture_output=True, text=True, check=True).stdout.split()
    facts = info(line)
    assert facts["bits"] == int(reference[0])
    assert facts["type"] == line.split()[0]
    assert facts["comment"] == "ops@laptop"


def test_signature_algorithms():
    assert info(openssh_line(KEYS["rsa3072"]()))["signature_algorithms"] == ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    assert info(openssh_line(KEYS["ed25519"](), ""))["signature_algorithms"] == ["ssh-ed25519"]
    assert info(openssh_line(KEYS["p256"]()))["signature_algorithms"] == ["ecdsa-sha2-nistp256"]


def test_key_without_comment_and_with_spaces_in_comment():
    key = openssh_line(KEYS["ed25519"](), "").strip()
    assert info(key)["comment"] == ""
    assert info(key + " ops at laptop")["comment"] == "ops at laptop"


ED25519 = openssh_line(KEYS["ed25519"]())
RSA = openssh_line(KEYS["rsa2048"]())
ED25519_BLOB = ED25519.split()[1]


@pytest.mark.parametrize("line, message", [
    ("ssh-ed25519 CHANGE_ME garfield@workstation", "the key data is not valid base64"),
    ("my laptop key", "the key data is not valid base64"),
    ("ssh-ed25519", "expected '<type> <base64 key> \\[comment\\]'"),
    ("ssh-rsa " + ED25519_BLOB, "the key data names type 'ssh-ed25519', the line says 'ssh-rsa'"),
    ("ssh-ed25519 " + base64.b64encode(base64.b64decode(ED25519_BLOB)[:-3]).decode(), "the key data is shorter than a field it announces"),
    ("ssh-rsa " + base64.b64encode(base64.b64decode(RSA.split()[1]) + b"\0\0").decode(), "the key data ends inside a length field"),
    ("ssh-foo " + base64.b64encode(b"\0\0\0\x07ssh-foo").decode(), "unknown key type 'ssh-foo'"),
    (42, "expected one line of text, got int"),
], ids=["placeholder", "no-type", "type-only", "type-mismatch", "truncated", "inside-length", "unknown-type",
        "not-text"])  # stable ids: the generated keys differ per pytest-xdist worker
def test_refuses_what_is_not_a_public_key(line, message):
    with pytest.raises(AnsibleFilterError, match="ssh_public_key_info: " + message):
        info(line)
